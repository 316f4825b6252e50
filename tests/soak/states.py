"""The module's state bytes (src/codec.rs), written and read independently of the module, and
the bounds its decoder enforces, so that the soak can forge states at and around each bound.

Layout, integers little-endian: version u8 | kind u8 | fields (u64 each)
    version 1 (module 0.1), which later modules still read:
    kind 1 (sliding): window_us | start_us | current | previous
    kind 2 (fixed):   window_us | start_us | count
    kind 3 (bucket):  window_us | limit | burst | tat_us | tat_frac
    version 2, states dated by the instant they were written:
    kind 1 (sliding): window_us | as_of_us | into_us | current | previous
    kind 2 (fixed):   window_us | as_of_us | into_us | count
    kind 3 (bucket):  window_us | limit | burst | as_of_us | drain_us | drain_frac
The soak forges version 1 states (every module must load them); it reads both. The bounds
below are version 1's, as module 0.1 checked them.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

VERSION = 1
SLIDING, FIXED, BUCKET = 1, 2, 3
NAMES: dict[tuple[int, int], tuple[str, ...]] = {
    (1, SLIDING): ("window", "start", "current", "previous"),
    (1, FIXED): ("window", "start", "count"),
    (1, BUCKET): ("window", "limit", "burst", "tat", "frac"),
    (2, SLIDING): ("window", "as_of", "into", "current", "previous"),
    (2, FIXED): ("window", "as_of", "into", "count"),
    (2, BUCKET): ("window", "limit", "burst", "as_of", "drain", "frac"),
}
FIELDS = {kind: len(NAMES[(VERSION, kind)]) for kind in (SLIDING, FIXED, BUCKET)}
KIND_NAMES = {SLIDING: "sliding", FIXED: "fixed", BUCKET: "bucket"}

MAX_LIMIT = (1 << 63) - 1
MIN_WINDOW = 1_000
MAX_WINDOW = 36_500 * 86_400_000 * 1_000
MAX_INSTANT = 1 << 56
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class State:
    kind: int
    fields: tuple[int, ...]
    version: int = VERSION

    def encode(self) -> bytes:
        return bytes([self.version, self.kind]) + b"".join(
            struct.pack("<Q", f & U64) for f in self.fields
        )

    @property
    def names(self) -> tuple[str, ...]:
        default = tuple(f"f{i}" for i in range(len(self.fields)))
        return NAMES.get((self.version, self.kind), default)

    def get(self, name: str, default: int = 0) -> int:
        return dict(zip(self.names, self.fields, strict=False)).get(name, default)

    def describe(self) -> str:
        inner = " ".join(f"{n}={v}" for n, v in zip(self.names, self.fields, strict=False))
        version = "" if self.version == VERSION else f"v{self.version} "
        return f"{version}{KIND_NAMES.get(self.kind, self.kind)}({inner})"


def decode(data: bytes) -> State | None:
    """The state in `data` when it has one of the layouts above (not checking the bounds)."""
    if len(data) < 2 or (data[0], data[1]) not in NAMES:
        return None
    n = len(NAMES[(data[0], data[1])])
    if len(data) != 2 + 8 * n:
        return None
    fields = struct.unpack(f"<{n}Q", data[2:])
    return State(data[1], tuple(fields), data[0])


def is_valid(state: State) -> bool:
    """What the module's decoder accepts (codec.rs `is_valid`)."""
    if state.version != VERSION or state.kind not in FIELDS:
        return False
    f = state.fields
    if len(f) != FIELDS[state.kind]:
        return False

    def window_ok(w: int) -> bool:
        return MIN_WINDOW <= w <= MAX_WINDOW

    if state.kind == SLIDING:
        window, start, current, previous = f
        return (
            window_ok(window)
            and start <= MAX_INSTANT
            and current <= MAX_LIMIT
            and previous <= MAX_LIMIT
        )
    if state.kind == FIXED:
        window, start, count = f
        return window_ok(window) and start <= MAX_INSTANT and count <= MAX_LIMIT
    window, limit, burst, tat, frac = f
    return (
        window_ok(window)
        and 1 <= limit <= MAX_LIMIT
        and 1 <= burst <= MAX_LIMIT
        and burst * window <= limit * MAX_WINDOW
        and frac < limit
        and tat <= MAX_INSTANT + MAX_WINDOW
    )


def is_empty(state: State) -> bool:
    """A version 1 state that holds no usage at its own instant (module 0.1 deleted the key
    when it was told to store one, but kept one given by RESTORE)."""
    f = state.fields
    if state.kind == SLIDING:
        return f[2] == 0 and f[3] == 0
    if state.kind == FIXED:
        return f[2] == 0
    return f[3] == 0 and f[4] == 0


def expires_at_us(state: State) -> int | None:
    """The instant the state carries no information any more (when the key should expire)."""
    f = state.fields
    if state.kind == SLIDING:
        window, start, current, previous = f
        if current:
            return start + 2 * window
        if previous:
            return start + window
        return None
    if state.kind == FIXED:
        window, start, count = f
        return start + window if count else None
    return f[3] + (1 if f[4] else 0)


# Values at and around each bound, for forging fields.
def around(*points: int) -> list[int]:
    out: set[int] = set()
    for p in points:
        for d in (-1, 0, 1):
            if 0 <= p + d <= U64:
                out.add(p + d)
    return sorted(out)


# The compact form keeps windows of whole milliseconds below 2^32 ms (packed.rs).
WINDOW_EDGES = [
    *around(0, MIN_WINDOW, 1_000_000, 60_000_000, MAX_WINDOW, 1 << 32, (1 << 32) * 1000, U64),
    1_500,
]
INSTANT_EDGES = around(0, 1 << 52, MAX_INSTANT, MAX_INSTANT + MAX_WINDOW, 1 << 63, U64)
COUNT_EDGES = around(0, 1 << 22, 1 << 44, 1 << 53, MAX_LIMIT, U64)
SMALL_LIMIT_EDGES = around(0, 1, 3, 1 << 14, 1 << 15, MAX_LIMIT)


def random_valid(rng: random.Random, now_us: int) -> State:
    """A state the decoder accepts, often at the edge of a bound, dated around `now_us`."""
    kind = rng.choice((SLIDING, FIXED, BUCKET))

    def window() -> int:
        return rng.choice(
            [MIN_WINDOW, MAX_WINDOW, 60_000_000, 1_000_000, rng.randint(MIN_WINDOW, 10**10)]
        )

    def instant() -> int:
        return rng.choice(
            [
                now_us,
                now_us - rng.randint(0, 10**11),
                now_us + rng.randint(0, 10**11),
                MAX_INSTANT,
                (1 << 52) - 1,
                0,
            ]
        )

    def count(cap: int = MAX_LIMIT) -> int:
        return rng.choice([0, 1, cap, rng.randint(0, 100), rng.randint(0, cap), (1 << 22) - 1])

    if kind == SLIDING:
        return State(SLIDING, (window(), instant(), count(), count()))
    if kind == FIXED:
        return State(FIXED, (window(), instant(), count()))
    w = window()
    limit = rng.choice([1, 3, 10, (1 << 15) - 1, MAX_LIMIT, rng.randint(1, 10**6)])
    burst_max = max(1, min(MAX_LIMIT, limit * MAX_WINDOW // w))
    burst = rng.choice([1, limit, burst_max, rng.randint(1, burst_max)])
    burst = min(burst, burst_max)
    tat = rng.choice([instant(), MAX_INSTANT + MAX_WINDOW, MAX_INSTANT])
    frac = rng.choice([0, limit - 1, rng.randint(0, limit - 1)])
    return State(BUCKET, (w, limit, burst, tat, frac))


# ALGO LOG (version 2, kind 4): window_us | as_of_us | base_ms (i64) | count | entries, each
# entry a varint of its distance in ms from the one before, shifted left by one with the low
# bit set when its cost is 1, other costs following as a varint (core/src/engines/log.rs).
LOG = 4
LOG_HEADER = struct.Struct("<BBQQqQ")


@dataclass(frozen=True)
class LogState:
    window_us: int
    as_of_us: int
    base_ms: int
    count: int
    entries: bytes

    def encode(self) -> bytes:
        base = ((self.base_ms + (1 << 63)) & U64) - (1 << 63)  # forged values wrap to an i64
        return (
            LOG_HEADER.pack(
                2, LOG, self.window_us & U64, self.as_of_us & U64, base, self.count & U64
            )
            + self.entries
        )

    def describe(self) -> str:
        return (
            f"log(window={self.window_us} as_of={self.as_of_us} base_ms={self.base_ms} "
            f"count={self.count} entries={self.entries[:24].hex()}"
            f"{'...' if len(self.entries) > 24 else ''})"
        )


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def log_entries(items: list[tuple[int, int]]) -> bytes:
    """Entries from (distance in ms from the entry before, cost)."""
    return b"".join(
        varint(delta << 1 | (cost == 1)) + (b"" if cost == 1 else varint(cost))
        for delta, cost in items
    )


def decode_log(data: bytes) -> LogState | None:
    if len(data) < LOG_HEADER.size or data[:2] != bytes([2, LOG]):
        return None
    _, _, window, as_of, base, count = LOG_HEADER.unpack_from(data)
    return LogState(window, as_of, base, count, data[LOG_HEADER.size :])


def random_log(rng: random.Random, now_us: int) -> LogState:
    """A log the decoder accepts: entries one or more ms apart, all within the window that
    ends at its date, the oldest first."""
    window_ms = rng.choice([1, 2, 1_000, 60_000, 3_600_000, MAX_WINDOW // 1000])
    now_ms = now_us // 1000
    n = rng.choice([1, 2, 3, 10, 100, 1000])
    n = min(n, window_ms)
    span = min(window_ms - 1, rng.choice([n, 10 * n, 64 * n, window_ms - 1]))
    times = sorted(rng.sample(range(now_ms - span, now_ms + 1), n)) if span >= n else []
    if not times:
        times = list(range(now_ms - n + 1, now_ms + 1))
    items = []
    previous = times[0]
    for t in times:
        cost = rng.choice([1, 1, 1, 2, 300, MAX_LIMIT // (2 * n)])
        items.append((t - previous, cost))
        previous = t
    return LogState(window_ms * 1000, now_us, times[0], n, log_entries(items))
