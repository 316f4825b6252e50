"""The bytes of an `rl-leases` value (core/src/leases/codec.rs), written and read independently
of the module, and the rule its decoder enforces (`Leases::validate`), so that the soak can
check the leases a server holds and forge states at and around each bound.

Layout, integers little-endian:
    version 1 (u8) | limit (u64) | as_of_us (u64) | count (u32) | count x lease
    lease: expires_at_us (u64) | units (u64) | id length (u8) | id bytes
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

VERSION = 1
MAX_HELD = 1_000_000
MAX_ID_LEN = 64
MAX_INSTANT = 1 << 56
MAX_WINDOW = 36_500 * 86_400_000 * 1_000
U64 = (1 << 64) - 1
HEADER = struct.Struct("<BQQI")
LEASE = struct.Struct("<QQB")


@dataclass(frozen=True)
class Lease:
    id: bytes
    expires_at_us: int
    units: int


@dataclass(frozen=True)
class Leases:
    limit: int
    as_of_us: int
    leases: tuple[Lease, ...]
    version: int = VERSION
    # A count that says otherwise than the leases that follow (a forged header).
    count: int | None = None

    def encode(self) -> bytes:
        n = len(self.leases) if self.count is None else self.count
        out = [HEADER.pack(self.version, self.limit & U64, self.as_of_us & U64, n & 0xFFFFFFFF)]
        for lease in self.leases:
            out.append(LEASE.pack(lease.expires_at_us & U64, lease.units & U64, len(lease.id)))
            out.append(lease.id)
        return b"".join(out)

    @property
    def last_expiry_us(self) -> int:
        return max(lease.expires_at_us for lease in self.leases)

    def held(self) -> int:
        return sum(lease.units for lease in self.leases)

    def describe(self) -> str:
        shown = ", ".join(
            f"{lease.id[:20]!r}:{lease.units}u@{lease.expires_at_us}" for lease in self.leases[:4]
        )
        more = f" +{len(self.leases) - 4}" if len(self.leases) > 4 else ""
        return f"leases(limit={self.limit} as_of={self.as_of_us} [{shown}{more}])"


def decode(data: bytes) -> Leases | None:
    """The leases in `data` when it has the layout above (not checking the rule)."""
    if len(data) < HEADER.size:
        return None
    version, limit, as_of, count = HEADER.unpack_from(data)
    pos = HEADER.size
    out = []
    for _ in range(count):
        if pos + LEASE.size > len(data):
            return None
        expires, units, n = LEASE.unpack_from(data, pos)
        pos += LEASE.size
        if pos + n > len(data):
            return None
        out.append(Lease(data[pos : pos + n], expires, units))
        pos += n
    if pos != len(data):
        return None
    return Leases(limit, as_of, tuple(out), version)


def problem(state: Leases) -> str | None:
    """Why the decoder refuses `state` (None when it accepts it)."""
    if state.version != VERSION:
        return f"version {state.version}"
    if state.count is not None and state.count != len(state.leases):
        return "count"
    if not 1 <= state.limit <= MAX_HELD:
        return "limit"
    if state.as_of_us > MAX_INSTANT:
        return "as_of"
    if not state.leases:
        return "empty"
    if len(state.leases) > MAX_HELD:
        return "count"
    seen = set()
    for lease in state.leases:
        if not 1 <= len(lease.id) <= MAX_ID_LEN:
            return "id length"
        if lease.units < 1:
            return "units"
        if not (state.as_of_us < lease.expires_at_us <= state.as_of_us + MAX_WINDOW):
            return "expiry"
        if lease.id in seen:
            return "repeated id"
        seen.add(lease.id)
    if state.held() > state.limit:
        return "held"
    return None


def random_id(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.4:
        return f"job-{rng.randrange(8)}".encode()
    if roll < 0.6:
        return f"{rng.getrandbits(64):016x}".encode()
    if roll < 0.8:
        return bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 63, 64))))
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))


def random_valid(rng: random.Random, now_us: int) -> Leases:
    """A state the decoder accepts, often at the edge of a bound, dated around `now_us`."""
    limit = rng.choice([1, 2, 3, 10, MAX_HELD, rng.randint(1, 50)])
    as_of = rng.choice(
        [now_us, now_us - rng.randint(0, 10**10), now_us + rng.randint(0, 10**10), MAX_INSTANT]
    )
    as_of = max(0, min(as_of, MAX_INSTANT))
    out: list[Lease] = []
    room = limit
    ids: set[bytes] = set()
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        if room == 0:
            break
        lease_id = random_id(rng)
        if lease_id in ids:
            continue
        ids.add(lease_id)
        units = rng.choice([1, room, rng.randint(1, room)])
        room -= units
        expiry = as_of + rng.choice([1, 1_000, 60_000_000, MAX_WINDOW, rng.randint(1, 10**10)])
        out.append(Lease(lease_id, expiry, units))
    return Leases(limit, as_of, tuple(out))
