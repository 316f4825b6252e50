"""What each fuzzed key holds while a batch runs: a rate limiter state (`ratelimit`), leases
(`rl-leases`), nothing, or not known; and for a key of leases whose every lease the batch saw
granted, those leases. The fuzzer reads this to tell which commands must answer WRONGTYPE (a
lease command on a rate-limit key and the other way round) and what RL.ACQUIRE, RL.RELEASE and
RL.RENEW must answer, and updates it from each reply in the order the server ran them.

The clock is frozen during a batch, so no key expires in it, except on Valkey, whose frozen
clock drifts within an event-loop turn: a key that expires within a second, or a lease that
short, is "not known" rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import argmodel
import leases
from argmodel import LeaseRequest
from resp import Error, Reply, Status

RATELIMIT = "ratelimit"
LEASES = "rl-leases"
NONE = "none"
UNKNOWN = "unknown"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
# A key or lease closer than this to its expiry may expire within a batch on Valkey.
MARGIN_MS = 1_000


def granted(reply: Reply) -> bool:
    return isinstance(reply, list) and len(reply) in (5, 6) and reply[0] == 1


@dataclass
class Types:
    kinds: dict[bytes, str] = field(default_factory=dict)
    # The leases of a key (id -> units) when the batch saw every one of them granted.
    held: dict[bytes, dict[bytes, int]] = field(default_factory=dict)
    # Ids the server granted per key, for later RL.RELEASE and RL.RENEW to name.
    ids: dict[bytes, list[bytes]] = field(default_factory=dict)

    def seed(
        self, found: dict[bytes, tuple[str, int]], held: dict[bytes, dict[bytes, int]]
    ) -> None:
        """From the keys a server holds: name -> (TYPE, PTTL), and the leases of the keys of
        leases whose every lease outlives the batch. Keys absent hold nothing."""
        self.kinds.clear()
        self.held.clear()
        for key, (kind, pttl) in found.items():
            if kind in (RATELIMIT, LEASES):
                self.kinds[key] = kind if pttl >= MARGIN_MS else UNKNOWN
            if kind == LEASES and pttl >= MARGIN_MS and key in held:
                self.held[key] = dict(held[key])

    def kind(self, key: bytes) -> str:
        return self.kinds.get(key, NONE)

    def set(self, key: bytes, kind: str) -> None:
        self.kinds[key] = kind
        if kind == NONE:
            self.held[key] = {}
        else:
            self.held.pop(key, None)

    def model(self, key: bytes) -> dict[bytes, int] | None:
        """The key's leases when the batch knows them all: none for a key that holds nothing."""
        kind = self.kind(key)
        if kind == NONE:
            return self.held.setdefault(key, {})
        return self.held.get(key) if kind == LEASES else None

    def clash(self, keys: tuple[bytes, ...], family: str) -> str:
        """ "yes" when some key holds the other family's value (WRONGTYPE is due), "maybe" when
        some key is not known, else "no"."""
        kinds = [self.kind(k) for k in keys]
        if any(k not in (family, NONE, UNKNOWN) for k in kinds):
            return "yes"
        return "maybe" if UNKNOWN in kinds else "no"

    # Exact lease answers, for keys whose leases are all known -----------------------------

    def acquire_problem(self, key: bytes, request: LeaseRequest, reply: Reply) -> str | None:
        leases = self.model(key)
        if leases is None:
            return None
        if not isinstance(reply, list) or len(reply) != 6 or reply[0] not in (0, 1):
            return None  # the shape is replies.py's to judge
        others = sum(units for lease_id, units in leases.items() if lease_id != request.id)
        fits = others + request.cost <= request.limit
        if fits != granted(reply):
            return (
                f"{'denied' if fits else 'granted'} although the key's leases hold {others} "
                f"other units of {request.limit}, and the cost is {request.cost}"
            )
        remaining = (
            request.limit - others - request.cost if fits else max(0, request.limit - others)
        )
        if not fits and request.id in leases:
            remaining = max(0, request.limit - others - leases[request.id])
        if reply[2] != remaining:
            return f"remaining={reply[2]!r}, the key's leases leave {remaining}"
        return None

    def held_expected(self, key: bytes, lease_id: bytes) -> int | None:
        """What RL.RELEASE or RL.RENEW of `lease_id` must answer, when it is known."""
        leases = self.model(key)
        return None if leases is None else int(lease_id in leases)

    # Updates, one reply at a time ---------------------------------------------------------

    def apply(self, args: list[bytes], reply: Reply) -> None:
        name = args[0].upper()
        if isinstance(reply, Error) or len(args) < 2:
            if isinstance(reply, Error) and reply.text == WRONGTYPE and len(args) > 1:
                self.learn_wrongtype(name, args)
            return
        key = args[1]
        if name == b"RL.HIT":
            self.after_decision(key, reply, False)
        elif name == b"CL.THROTTLE":
            if len(args) > 5 and args[5] == b"0" and self.kind(key) == NONE:
                self.set(key, UNKNOWN)  # quantity 0 checks, and may store nothing
            else:
                self.after_decision(key, reply, True)
        elif name == b"RL.MHIT":
            n = int(args[1]) if args[1].isdigit() else 0
            for k in args[2 : 2 + n]:
                self.after_decision(k, reply, False)
        elif name in (b"RL.SETSTATE", b"RL.SETLEASES", b"RESTORE"):
            if reply == Status("OK"):
                self.set(key, UNKNOWN)
        elif name == b"RL.ACQUIRE":
            self.after_acquire(key, args, reply)
        elif name == b"RL.RELEASE" and reply == 1:
            leases = self.model(key)
            if leases is None:
                self.set(key, UNKNOWN)
            else:
                leases.pop(args[2], None)
                self.kinds[key] = LEASES if leases else NONE
        elif name == b"RL.RENEW" and reply == 1:
            if len(args) < 4 or not long_enough(args[3]):
                self.set(key, UNKNOWN)
            else:
                self.kinds[key] = LEASES  # the renewed lease outlives the batch
        elif name in (b"COPY", b"RENAME", b"UNLINK"):
            self.after_companion(name, args, reply)

    def after_decision(self, key: bytes, reply: Reply, cell: bool) -> None:
        """An admitted request stores a state that lives `reset_after` (CL.THROTTLE answers
        it in seconds, rounded up); a denied one writes nothing."""
        if not isinstance(reply, list) or len(reply) < 5 or reply[0] != (0 if cell else 1):
            return
        reset = reply[4]
        short = not isinstance(reset, int) or reset < (2 if cell else MARGIN_MS)
        self.set(key, UNKNOWN if short else RATELIMIT)

    def after_acquire(self, key: bytes, args: list[bytes], reply: Reply) -> None:
        if not granted(reply) or not isinstance(reply, list):
            return
        lease_id = reply[5]
        leases = self.model(key)
        lease_us = argmodel.duration_us(args[3]) if len(args) > 3 else None
        if not isinstance(lease_id, bytes) or lease_us is None or lease_us < MARGIN_MS * 1000:
            self.set(key, UNKNOWN)
            return
        self.ids.setdefault(key, []).append(lease_id)
        del self.ids[key][:-8]
        if leases is None:
            self.set(key, LEASES)
            return
        leases[lease_id] = cost_of(args[4:])
        self.kinds[key] = LEASES

    def after_companion(self, name: bytes, args: list[bytes], reply: Reply) -> None:
        if name == b"UNLINK":
            self.set(args[1], NONE)
        elif name == b"COPY" and reply == 1 and len(args) > 2:
            self.set(args[2], self.kind(args[1]))
            source = self.held.get(args[1])
            if source is not None and self.kind(args[1]) == LEASES:
                self.held[args[2]] = dict(source)
        elif name == b"RENAME" and reply == Status("OK") and len(args) > 2:
            source = self.held.get(args[1])
            self.set(args[2], self.kind(args[1]))
            if source is not None and self.kind(args[1]) == LEASES:
                self.held[args[2]] = source
            self.set(args[1], NONE)

    def learn_wrongtype(self, name: bytes, args: list[bytes]) -> None:
        """A single-key command answered WRONGTYPE: the key holds the other family."""
        if self.kind(args[1]) != UNKNOWN:
            return
        if name in (b"RL.HIT", b"RL.PEEK", b"CL.THROTTLE", b"RL.SETSTATE"):
            self.kinds[args[1]] = LEASES
        elif name in (b"RL.ACQUIRE", b"RL.RELEASE", b"RL.RENEW", b"RL.SETLEASES"):
            self.kinds[args[1]] = RATELIMIT


def long_enough(text: bytes) -> bool:
    us = argmodel.duration_us(text)
    return us is not None and us >= MARGIN_MS * 1000


def cost_of(options: list[bytes]) -> int:
    for i in range(0, len(options) - 1, 2):
        if options[i].upper() == b"COST":
            return int(options[i + 1])
    return 1


def held_at(state: leases.Leases, now_us: int) -> dict[bytes, int] | None:
    """The leases a state holds as the module sees them at `now_us` (a state dated later is
    moved back to it), or None when one expires within the margin (it may expire during the
    batch)."""
    step = max(0, state.as_of_us - now_us)
    out = {}
    for lease in state.leases:
        left = lease.expires_at_us - step - now_us
        if 0 < left < MARGIN_MS * 1000 or left == 0:
            return None
        if left > 0:
            out[lease.id] = lease.units
    return out
