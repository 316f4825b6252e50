"""Crafted RESTORE payloads: real DUMPs of rate-limit keys, then bit flips, truncations,
extensions, forged fields and forged framing, most of them sealed with a valid checksum so that
they reach the module's loader instead of stopping at the server's checksum test."""

from __future__ import annotations

import random
from dataclasses import dataclass

import dump
import states
from harness import EPOCH_US


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
        name = rng.choice(("ratelimiX", "Ratelimit", "ratelimi_"))
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
