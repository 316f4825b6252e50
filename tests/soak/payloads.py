"""Crafted RESTORE payloads: real DUMPs of rate-limit keys (every algorithm, ALGO LOG's log
of entries included) and of keys of leases, then bit flips, truncations, extensions, forged
fields, counts, lengths and entries, and forged framing, most of them sealed with a valid
checksum so that they reach the module's loader instead of stopping at the server's checksum
test."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import dump
import leases
import states
from harness import EPOCH_US

U64 = (1 << 64) - 1


@dataclass(frozen=True)
class Payload:
    label: str
    data: bytes


def _flip(data: bytes, rng: random.Random, lo: int, hi: int) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        i = rng.randrange(lo, hi)
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _forged_field(state: states.State, rng: random.Random) -> tuple[str, states.State]:
    fields = list(state.fields)
    i = rng.randrange(len(fields))
    names = state.names
    edges = {
        "window": states.WINDOW_EDGES,
        "start": states.INSTANT_EDGES,
        "tat": states.INSTANT_EDGES,
        "as_of": states.INSTANT_EDGES,
        "into": states.WINDOW_EDGES,
        "drain": states.WINDOW_EDGES,
        "current": states.COUNT_EDGES,
        "previous": states.COUNT_EDGES,
        "count": states.COUNT_EDGES,
        "limit": states.SMALL_LIMIT_EDGES + states.COUNT_EDGES,
        "burst": states.SMALL_LIMIT_EDGES + states.COUNT_EDGES,
        "frac": states.SMALL_LIMIT_EDGES,
    }[names[i]]
    if names[i] == "frac" and rng.random() < 0.5:
        fields[i] = max(0, fields[1] + rng.choice((-1, 0)))  # just under / at the limit
    elif names[i] == "burst" and rng.random() < 0.5:
        # At or just past the longest drain the decoder allows.
        top = fields[1] * states.MAX_WINDOW // max(1, fields[0])
        fields[i] = max(1, top + rng.choice((0, 1)))
    else:
        fields[i] = rng.choice(edges)
    return f"forge {names[i]}", states.State(state.kind, tuple(fields), state.version)


def mutate(base: Payload, rng: random.Random) -> Payload:
    """One crafted payload derived from a real DUMP."""
    body, version = dump.unseal(base.data)
    value = dump.parse(base.data)
    state = states.decode(value.state)
    roll = rng.random()
    if roll < 0.04:
        return Payload(
            f"{base.label}: flip (checksum left wrong)", _flip(base.data, rng, 0, len(base.data))
        )
    if roll < 0.25:
        return Payload(f"{base.label}: flip", dump.seal(_flip(body, rng, 0, len(body)), version))
    if roll < 0.33:
        cut = rng.randrange(0, len(body))
        if rng.random() < 0.1:
            return Payload(f"{base.label}: truncate to {cut} (no checksum)", base.data[:cut])
        return Payload(f"{base.label}: truncate body to {cut}", dump.seal(body[:cut], version))
    if roll < 0.38:
        extra = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        return Payload(
            f"{base.label}: extend body by {extra.hex()}", dump.seal(body + extra, version)
        )
    if roll < 0.43:
        extra = bytes(rng.randrange(256) for _ in range(rng.choice((1, 8, 9))))
        grown = value.state + extra if rng.random() < 0.5 else value.state[: -rng.randint(1, 9)]
        return Payload(f"{base.label}: state of {len(grown)} bytes", dump.build(grown, version))
    if roll < 0.75:
        forged_module = forge_module_state(base, rng)
        if forged_module is not None:
            return forged_module
    if roll < 0.75 and state is not None:
        label, forged = _forged_field(state, rng)
        if rng.random() < 0.3:  # and a second field
            label2, forged = _forged_field(forged, rng)
            label = f"{label}, {label2}"
        return Payload(
            f"{base.label}: {label} -> {forged.describe()}", dump.build(forged.encode(), version)
        )
    if roll < 0.9:
        return frame(value.state, version, rng, base.label)
    return valid_state(rng, version)


def frame(state: bytes, version: int, rng: random.Random, label: str) -> Payload:
    """Forged framing around a real state."""
    choice = rng.randrange(12)
    if choice == 0:
        encver = rng.choice((0, 2, 1023))
        return Payload(
            f"{label}: encver {encver}",
            dump.build(state, version, mid=dump.module_id(encver=encver)),
        )
    if choice == 1:
        # The other type's name (leases bytes read as a rate limiter state and the reverse),
        # and names one character off.
        name = rng.choice(("ratelimiX", "Ratelimit", "ratelimi_", "rl-leases", "ratelimit"))
        return Payload(
            f"{label}: type name {name}", dump.build(state, version, mid=dump.module_id(name))
        )
    if choice == 2:
        opcode = rng.choice((0, 1, 2, 3, 4, 6, 63))
        return Payload(f"{label}: opcode {opcode}", dump.build(state, version, opcode=opcode))
    if choice == 3:
        declared = len(state) + rng.choice((-3, -1, 1, 2, 200, 1 << 20))
        return Payload(
            f"{label}: string length {declared}",
            dump.build(state, version, string_len=max(0, declared)),
        )
    if choice == 4:
        extra = dump.encode_len(dump.OPCODE_STRING) + dump.encode_len(len(state)) + state
        return Payload(f"{label}: a second string", dump.build(state, version, before_eof=extra))
    if choice == 5:
        return Payload(f"{label}: no EOF", dump.build(state, version, eof=b""))
    if choice == 6:
        eof = bytes([rng.choice((1, 2, 5, 0x3F, 0xC0))])
        return Payload(f"{label}: EOF {eof.hex()}", dump.build(state, version, eof=eof))
    if choice == 7:
        t = rng.choice((0, 1, 6, 8, 21, 255))
        return Payload(f"{label}: object type {t}", dump.build(state, version, object_type=t))
    if choice == 8:
        v = rng.choice((0, 2, 255))
        return Payload(f"{label}: state version {v}", dump.build(bytes([v]) + state[1:], version))
    if choice == 9:
        k = rng.choice((0, 4, 255, 1 if state[1] != 1 else 2))
        return Payload(
            f"{label}: state kind {k}", dump.build(state[:1] + bytes([k]) + state[2:], version)
        )
    if choice == 10:
        v = version + rng.choice((1, 100))
        return Payload(f"{label}: RDB version {v}", dump.build(state, v))
    return Payload(f"{label}: empty state", dump.build(b"", version))


def valid_state(rng: random.Random, version: int) -> Payload:
    state = states.random_valid(rng, EPOCH_US)
    return Payload(f"random valid {state.describe()}", dump.build(state.encode(), version))


def _edit_log(log: states.LogState, rng: random.Random) -> tuple[str, states.LogState]:
    """One forged field or entry of a log, around the bounds its decoder checks."""
    now_ms = log.as_of_us // 1000
    window_ms = log.window_us // 1000
    choice = rng.randrange(9)
    if choice == 0:
        count = rng.choice([0, log.count - 1, log.count + 1, 1 << 24, (1 << 24) + 1, U64])
        return f"count {count}", replace(log, count=max(0, count))
    if choice == 1:
        base = rng.choice(
            [now_ms - window_ms, now_ms - window_ms + 1, now_ms + 1, now_ms, -1, (1 << 63) - 1]
        )
        return f"base_ms {base}", replace(log, base_ms=base)
    if choice == 2:
        window = rng.choice([0, 999, 1_001, log.window_us + 1, states.MAX_WINDOW + 1000, U64])
        return f"window {window}", replace(log, window_us=window)
    if choice == 3:
        as_of = rng.choice([states.MAX_INSTANT, states.MAX_INSTANT + 1, 0, log.as_of_us - 1000])
        return f"as_of {as_of}", replace(log, as_of_us=as_of)
    if choice == 4:
        # An entry appended: at the same ms, one later, past the date, with cost 0 or huge.
        delta = rng.choice([0, 1, 2, window_ms, 1 << 62])
        cost = rng.choice([0, 1, 2, states.MAX_LIMIT, U64])
        extra = states.varint(delta << 1 | (cost == 1) & U64) + (
            b"" if cost == 1 else states.varint(cost)
        )
        return f"entry +{delta}ms cost {cost} appended", replace(
            log, entries=log.entries + extra, count=log.count + rng.choice((0, 1))
        )
    if choice == 5 and log.entries:
        cut = rng.randrange(len(log.entries))
        return f"entries cut to {cut} bytes", replace(log, entries=log.entries[:cut])
    if choice == 6:
        # Varints that do not end, or run past 64 bits.
        junk = rng.choice([b"\x80", b"\xff" * 9 + b"\x02", b"\xff" * 10, b"\x81\x00", b"\x00"])
        return f"entries + {junk.hex()}", replace(log, entries=log.entries + junk)
    if choice == 7 and log.entries:
        out = bytearray(log.entries)
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return "entry bit flipped", replace(log, entries=bytes(out))
    return "a random valid log", states.random_log(rng, log.as_of_us)


def _edit_leases(state: leases.Leases, rng: random.Random) -> tuple[str, leases.Leases]:
    """One forged field of a leases state, around the bounds its decoder checks."""
    held = list(state.leases)
    choice = rng.randrange(9)
    if choice == 0:
        count = rng.choice([0, len(held) - 1, len(held) + 1, leases.MAX_HELD + 1, 0xFFFFFFFF])
        return f"count {count}", replace(state, count=max(0, count))
    if choice == 1:
        limit = rng.choice([0, state.held() - 1, state.held(), leases.MAX_HELD, U64])
        return f"limit {limit}", replace(state, limit=max(0, limit))
    if choice == 2:
        as_of = rng.choice([states.MAX_INSTANT, states.MAX_INSTANT + 1, 0, U64])
        return f"as_of {as_of}", replace(state, as_of_us=as_of)
    if not held:
        return "a random valid state", leases.random_valid(rng, state.as_of_us)
    i = rng.randrange(len(held))
    lease = held[i]
    if choice == 3:
        at = state.as_of_us + rng.choice(
            [0, 1, -1, leases.MAX_WINDOW, leases.MAX_WINDOW + 1, 1 << 63]
        )
        held[i] = replace(lease, expires_at_us=at % (1 << 64))
        label = f"expiry of lease {i} at as_of{at - state.as_of_us:+}"
    elif choice == 4:
        held[i] = replace(lease, units=rng.choice([0, state.limit, U64]))
        label = f"units of lease {i} {held[i].units}"
    elif choice == 5:
        held[i] = replace(lease, id=rng.choice([b"", b"x" * 65, b"y" * 255]))
        label = f"id of lease {i} of {len(held[i].id)} bytes"
    elif choice == 6:
        held.append(replace(lease, units=1))
        label = f"lease {i} twice"
    elif choice == 7:
        held.append(leases.Lease(b"extra", state.as_of_us + 1_000, 1))
        label = "one more lease of a unit"
    else:
        del held[i]
        label = f"lease {i} dropped, the count kept"
        return label, replace(state, leases=tuple(held), count=len(held) + 1)
    return label, replace(state, leases=tuple(held))


def forge_module_state(base: Payload, rng: random.Random) -> Payload | None:
    """A forged log or leases state in a payload sealed as the server seals one (None for a
    payload that holds neither)."""
    value = dump.parse(base.data)
    version = value.rdb_version
    if value.module_id == dump.module_id(dump.LEASES_TYPE_NAME):
        state = leases.decode(value.state)
        if state is None:
            return None
        label, forged = _edit_leases(state, rng)
        if rng.random() < 0.3:
            label2, forged = _edit_leases(forged, rng)
            label = f"{label}, {label2}"
        mid = dump.module_id(dump.LEASES_TYPE_NAME)
        return Payload(
            f"{base.label}: {label} -> {forged.describe()}",
            dump.build(forged.encode(), version, mid=mid),
        )
    log = states.decode_log(value.state)
    if log is None:
        return None
    label, forged_log = _edit_log(log, rng)
    return Payload(
        f"{base.label}: {label} -> {forged_log.describe()}",
        dump.build(forged_log.encode(), version),
    )
