"""The script fallback against the module, request by request.

Seeded request traces are replayed through the module (RL.HIT, RL.PEEK, RL.MHIT, RL.ACQUIRE,
RL.RELEASE and RL.RENEW on keys `m:...`) and through the fallback (the same arguments on keys
`s:...`, through ScriptLibrary) on one server with the module loaded and a frozen clock, in both
forms of the fallback (EVALSHA and FCALL), on every server of the matrix. After every request
the replies (or error texts) and the PTTL of every key involved must be equal. Lease ids the
server makes are the one thing that differs: each side's are kept apart and given back to it.

RL_MODULE chooses the module (servers.py); RL_SOAK=N makes every trace N times longer.
"""

from __future__ import annotations

import os
import random
import re
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_rl.scripts import Mode, ScriptLibrary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "support"))
import servers

SOAK = int(os.environ.get("RL_SOAK", "1"))

ALGOS = ("SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA", "LOG")
BUCKETS = ("TOKEN", "LEAKY", "GCRA")
# rl.log-max-entries at its default: a LOG limit needs at most min(limit, window in ms) entries.
LOG_MAX_ENTRIES = 10_000
MAX_WINDOW_US = 36500 * 86_400_000_000
SCRIPT_MAX = 2**53 - 1
CLAMP_US = 2**56
# Where most traces start: 2027.
BASE_US = 1_800_000_000_000_000
UNIT_US = {"": 1_000_000, "s": 1_000_000, "ms": 1_000, "m": 60_000_000, "h": 3_600_000_000}
UNIT_US["d"] = 86_400_000_000

Reply = Any  # a list of integers (RL.ACQUIRE: then an id), an integer, or "error: <text>"
# A lease id the server (or the script) made.
MADE_ID = re.compile(rb"[0-9a-f]{16}")


def window_us(text: str) -> int:
    digits = text.rstrip("smhdSMHD")
    return int(digits) * UNIT_US[text[len(digits) :].lower()]


@dataclass(frozen=True)
class Limit:
    """One limit: an algorithm (None: the default, SLIDING), a rate and for buckets a burst."""

    algo: str | None
    limit: int
    window: str
    burst: int | None = None

    @property
    def window_us(self) -> int:
        return window_us(self.window)

    @property
    def capacity(self) -> int:
        if self.algo in BUCKETS and self.burst is not None:
            return self.burst
        return self.limit

    def options(self, rng: random.Random) -> list[list[Any]]:
        """ALGO and BURST as option pairs, spelled in any case."""
        pairs: list[list[Any]] = []
        if self.algo is not None:
            pairs.append([spell(rng, "ALGO"), spell(rng, self.algo)])
        if self.burst is not None:
            pairs.append([spell(rng, "BURST"), self.burst])
        return pairs


def spell(rng: random.Random, word: str) -> str:
    return rng.choice([word, word.lower(), word.capitalize()])


def hit_args(rng: random.Random, limit: Limit, cost: int | None) -> list[Any]:
    pairs = limit.options(rng)
    if cost is not None:
        pairs.append([spell(rng, "COST"), cost])
    rng.shuffle(pairs)
    return [limit.limit, limit.window, *[x for pair in pairs for x in pair]]


def mhit_args(rng: random.Random, limits: list[Limit], cost: int | None) -> list[Any]:
    args: list[Any] = []
    for limit in limits:
        args += [spell(rng, "LIMIT"), limit.limit, limit.window]
        for pair in limit.options(rng):
            args += pair
    if cost is not None:
        args += [spell(rng, "COST"), cost]
    return args


# ------------------------------------------------------------------------------------------
# Random parameters


def random_window(rng: random.Random, extreme: bool = False) -> str:
    if extreme:
        return rng.choice(
            [
                *("1ms", "2ms", "3ms", "36500d", "36499d", "3153600000s", "52560000m", "876000h"),
                f"{rng.randrange(1, 36501)}d",
                f"{rng.randrange(1, 10**6)}ms",
            ]
        )
    choice = rng.random()
    if choice < 0.6:
        return rng.choice(["1ms", "7ms", "250ms", "1s", "10s", "60", "5m", "1h", "1d", "7d"])
    unit = rng.choice(["ms", "s", "m", "h", "d", ""])
    top = {"ms": 10**7, "s": 10**5, "": 10**5, "m": 10**4, "h": 10**3, "d": 400}[unit]
    return f"{rng.randrange(1, top)}{unit}"


def random_count(rng: random.Random, extreme: bool = False) -> int:
    if extreme:
        return rng.choice(
            [
                *(1, 2, 3, SCRIPT_MAX, SCRIPT_MAX - 1, 2**52, 10**15, 999_999_999_999_999),
                rng.randrange(1, SCRIPT_MAX + 1),
                rng.randrange(2**40, 2**53),
            ]
        )
    choice = rng.random()
    if choice < 0.35:
        return rng.randrange(1, 11)
    if choice < 0.7:
        return rng.choice([20, 50, 100, 1000, rng.randrange(11, 2000)])
    if choice < 0.9:
        return rng.choice([10**6, 10**9, rng.randrange(2000, 10**9)])
    return rng.randrange(10**9, SCRIPT_MAX + 1)


def max_burst(limit: int, window: str) -> int:
    """The largest burst that drains within 36500 days, and that the fallback takes."""
    return min(SCRIPT_MAX, limit * MAX_WINDOW_US // window_us(window))


def random_limit(
    rng: random.Random,
    algos: tuple[str, ...] = ALGOS,
    extreme: bool = False,
    window: str | None = None,
) -> Limit:
    algo = rng.choice(algos)
    fixed_window = window is not None
    window = window or random_window(rng, extreme)
    limit = random_count(rng, extreme)
    burst = None
    if algo in BUCKETS and rng.random() < 0.5:
        top = max_burst(limit, window)
        burst = rng.choice(
            [1, max(1, limit // 2), limit, limit * 2, top, rng.randrange(1, top + 1)]
        )
        burst = max(1, min(burst, top))
    if algo == "LOG" and min(limit, window_us(window) // 1000) > LOG_MAX_ENTRIES:
        # A log the module takes: fewer units, or (when the window is given) a shorter window.
        if fixed_window or rng.random() < 0.6:
            limit = rng.choice([1, 2, 3, 10, 100, LOG_MAX_ENTRIES, rng.randrange(1, 10_001)])
        else:
            window = f"{rng.choice([1, 2, 50, 999, 10_000, rng.randrange(1, 10_001)])}ms"
    shown: str | None = algo
    if algo == "SLIDING" and rng.random() < 0.5:
        shown = None  # the default
    return Limit(shown, limit, window, burst)


def random_cost(rng: random.Random, capacity: int) -> int | None:
    choice = rng.random()
    if choice < 0.55:
        return None
    if choice < 0.75:
        return 1
    if choice < 0.95:
        return rng.randrange(1, min(capacity, SCRIPT_MAX) + 1)
    return min(SCRIPT_MAX, rng.randrange(capacity, 2 * capacity + 2))


def random_advance(rng: random.Random, limit: Limit, last: Reply | None) -> int:
    """A step of time around what matters to this limit: its unit's share of the window, the
    window itself, and the instants the last reply named."""
    w = limit.window_us
    share = max(1, w // limit.limit)
    candidates = [
        0,
        1,
        999,
        1000,
        1001,
        rng.randrange(0, share * 2 + 1),
        rng.randrange(0, w + 1),
        w - 1,
        w,
        w + 1,
        rng.randrange(0, 1000),
    ]
    if isinstance(last, list):
        retry, reset = last[3], last[4]
        for ms in (retry, reset):
            if ms > 0:
                candidates += [ms * 1000 - 1000, ms * 1000 - 1, ms * 1000, ms * 1000 + 1]
    return rng.choice(candidates)


def comparable(reply: Reply) -> Reply:
    """The reply with the id of a lease the server (or the script) made as "made": each side
    makes its own."""
    made = isinstance(reply, list) and len(reply) == 6 and isinstance(reply[5], bytes)
    if made and MADE_ID.fullmatch(reply[5]):
        return [*reply[:5], "made"]
    return reply


# ------------------------------------------------------------------------------------------
# Replaying a trace through both


class Mismatch(AssertionError):
    pass


class Differential:
    """Sends each request to the module and to the fallback at the same frozen instant, and
    compares the replies and the keys' PTTL."""

    def __init__(self, server: servers.Server, mode: Mode, name: str) -> None:
        self.client = server.client()
        assert server.clock is not None
        self.clock = server.clock
        self.library = ScriptLibrary(self.client, mode)
        self.prefix = f"{mode}:{name}:"
        self.now = 0
        # Instants past this one are not visited (None: no bound). Past 2^56 us the module
        # clamps its clock while the server's expiry does not (see the clamp trace).
        self.horizon: int | None = CLAMP_US
        self.steps = 0
        self.history: deque[str] = deque(maxlen=10)
        self.last_script: Reply = None

    def within(self, instant_us: int) -> bool:
        return self.horizon is None or instant_us <= self.horizon

    def at(self, instant_us: int) -> None:
        assert self.within(instant_us)
        self.now = instant_us
        self.clock.freeze(instant_us)
        self.clock.wait_seen(self.client, tolerance_us=0)

    def advance(self, us: int) -> None:
        if us and self.within(self.now + us):
            self.at(self.now + us)

    def module(self, command: str, keys: list[str], args: list[Any]) -> Reply:
        names = [f"m:{self.prefix}{k}" for k in keys]
        numkeys = [len(keys)] if command == "RL.MHIT" else []
        try:
            return self.client.execute_command(command, *numkeys, *names, *args)
        except redis.ResponseError as error:
            return f"error: {error}"

    def script(self, command: str, keys: list[str], args: list[Any]) -> Reply:
        names = [f"s:{self.prefix}{k}" for k in keys]
        try:
            return self.library.call(command, names, args)
        except redis.ResponseError as error:
            return f"error: {error}"

    def run(
        self, command: str, keys: list[str], args: list[Any], script_args: list[Any] | None = None
    ) -> Reply:
        """Sends the request to both and compares; `script_args` are the fallback's when they
        differ (a lease id the script made)."""
        self.steps += 1
        module = self.module(command, keys, args)
        script = self.script(command, keys, args if script_args is None else script_args)
        self.last_script = script
        pipe = self.client.pipeline(transaction=False)
        for k in keys:
            pipe.pttl(f"m:{self.prefix}{k}")
            pipe.pttl(f"s:{self.prefix}{k}")
        ttls = pipe.execute()
        line = f"@{self.now} {command} {keys} {args} -> {module}"
        self.history.append(line)
        if comparable(module) != comparable(script) or ttls[0::2] != ttls[1::2]:
            raise Mismatch(
                "the fallback differs from the module\n"
                + "\n".join(f"  {h}" for h in list(self.history)[:-1])
                + f"\n  {line}\n  fallback: {script}\n  PTTL module {ttls[0::2]}, "
                f"fallback {ttls[1::2]}"
            )
        return module

    def hit(self, rng: random.Random, key: str, limit: Limit, cost: int | None) -> Reply:
        return self.run("RL.HIT", [key], hit_args(rng, limit, cost))

    def peek(self, rng: random.Random, key: str, limit: Limit, cost: int | None) -> Reply:
        return self.run("RL.PEEK", [key], hit_args(rng, limit, cost))

    def admission_edge(self, rng: random.Random, key: str, limit: Limit, cost: int | None) -> None:
        """After a denial with a finite wait: finds the first microsecond at which the same
        request is admitted (with RL.PEEK, which changes nothing, so the probes may go back
        and forth in time after the last write), then hits 1 us before it, at it, and after."""
        start = self.now
        last = self.peek(rng, key, limit, cost)
        if not isinstance(last, list) or last[0] == 1 or last[3] <= 0:
            return
        if not self.within(start + last[3] * 1000 + 1):
            return
        low, high = start, start + last[3] * 1000  # denied at low, admitted at high
        while high - low > 1:
            middle = (low + high) // 2
            self.at(middle)
            reply = self.peek(rng, key, limit, cost)
            if reply[0] == 1:
                high = middle
            else:
                low = middle
        self.at(high - 1)
        self.hit(rng, key, limit, cost)
        self.at(high)
        self.hit(rng, key, limit, cost)
        self.advance(rng.choice([0, 1]))
        self.hit(rng, key, limit, cost)

    def expiry_edges(self, rng: random.Random, key: str, limit: Limit) -> None:
        """Requests around the instant the key expires, and one window before it (the
        sliding window's boundary), to the microsecond and the millisecond."""
        pexpiretime = self.client.pexpiretime(f"m:{self.prefix}{key}")
        if pexpiretime <= 0:
            return
        edge = pexpiretime * 1000
        if rng.random() < 0.5 and edge - limit.window_us > self.now:
            edge -= limit.window_us
        for offset in sorted(rng.sample([-1001, -1000, -1, 0, 1, 999, 1000, 1001], 3)):
            if edge + offset > self.now and self.within(edge + offset):
                self.at(edge + offset)
                if rng.random() < 0.3:
                    self.peek(rng, key, limit, None)
                self.hit(rng, key, limit, None)


# ------------------------------------------------------------------------------------------
# Traces


def single_key_trace(
    d: Differential,
    rng: random.Random,
    steps: int,
    limits: Iterator[Limit],
    change: float = 0.0,
    edges: float = 0.0,
) -> None:
    """Requests on a few keys: random costs and steps of time, RL.PEEK interleaved, the
    parameters changed with probability `change`, exact edges probed with probability
    `edges`."""
    keys = {k: next(limits) for k in ("a", "b", "c")}
    last: dict[str, Reply | None] = dict.fromkeys(keys)
    for _ in range(steps * SOAK):
        key = rng.choice(list(keys))
        if rng.random() < change:
            keys[key] = next(limits)
        limit = keys[key]
        d.advance(random_advance(rng, limit, last[key]))
        cost = random_cost(rng, limit.capacity)
        if rng.random() < 0.15:
            d.peek(rng, key, limit, cost)
            continue
        last[key] = d.hit(rng, key, limit, cost)
        reply = last[key]
        if isinstance(reply, list) and rng.random() < edges:
            if reply[0] == 0 and reply[3] > 0:
                d.admission_edge(rng, key, limit, cost)
            else:
                d.expiry_edges(rng, key, limit)


def limits_of(rng: random.Random, **kwargs: Any) -> Iterator[Limit]:
    while True:
        yield random_limit(rng, **kwargs)


def steady_trace(d: Differential, rng: random.Random, algo: str) -> None:
    """One limit at about 1.5 times its rate."""
    limit = Limit(algo, rng.choice([1, 5, 100, 1000]), rng.choice(["1s", "60", "1h"]))
    share = limit.window_us // limit.limit
    for _ in range(250 * SOAK):
        d.advance(int(share * rng.uniform(0.3, 1.0)))
        if rng.random() < 0.15:
            d.peek(rng, "k", limit, None)
        else:
            d.hit(rng, "k", limit, None)


def bursts_trace(d: Differential, rng: random.Random, algo: str) -> None:
    """Bursts of up to twice the limit at one instant, then pauses."""
    limit = random_limit(rng, algos=(algo,))
    for _ in range(15 * SOAK):
        for _ in range(min(25, max(1, int(limit.capacity * rng.uniform(0.5, 2))))):
            d.hit(rng, "k", limit, random_cost(rng, limit.capacity))
            d.advance(rng.choice([0, 0, 0, 1, 1000]))
        d.advance(int(limit.window_us * rng.uniform(0, 1.5)))


def mhit_trace(d: Differential, rng: random.Random, steps: int) -> None:
    """RL.MHIT with 2 to 8 limits of mixed algorithms over a pool of keys, whose limits
    sometimes change, with RL.HIT and RL.PEEK on the same keys in between."""
    pool = {f"{{u}}:{i}": random_limit(rng) for i in range(10)}
    last: Reply | None = None
    for _ in range(steps * SOAK):
        keys = rng.sample(list(pool), rng.randrange(2, 9))
        for key in keys:
            if rng.random() < 0.05:
                pool[key] = random_limit(rng)
        limits = [pool[k] for k in keys]
        d.advance(random_advance(rng, rng.choice(limits), last))
        cost = random_cost(rng, min(limit.capacity for limit in limits))
        choice = rng.random()
        if choice < 0.7:
            last = d.run("RL.MHIT", keys, mhit_args(rng, limits, cost))
        elif choice < 0.85:
            d.hit(rng, keys[0], limits[0], cost)
        else:
            d.peek(rng, keys[0], limits[0], cost)


def long_log_trace(d: Differential, rng: random.Random, steps: int) -> None:
    """ALGO LOG with logs of up to a hundred entries: runs of requests about a millisecond
    apart, then pauses after which many entries age out at once; denied requests that must walk
    many entries, some probed at their exact admission edge."""
    limit = Limit("LOG", 100, "250ms")
    done = 0
    reply: Reply = None
    while done < steps * SOAK:
        for _ in range(rng.randrange(20, 150)):
            done += 1
            d.advance(rng.choice([0, 1, 999, 1000, 1000, 1001, 2000, 3000]))
            cost = rng.choice([None, None, None, None, None, None, 1, 2])
            if isinstance(reply, list) and reply[0] == 0 and rng.random() < 0.3:
                cost = rng.randrange(1, limit.limit + 2)  # walks much of a full log
            if rng.random() < 0.1:
                d.peek(rng, "k", limit, cost)
                continue
            reply = d.hit(rng, "k", limit, cost)
            if isinstance(reply, list) and reply[0] == 0 and rng.random() < 0.03:
                d.admission_edge(rng, "k", limit, cost)
        w = limit.window_us
        d.advance(rng.randrange(w // 5, w + w // 5))  # a pause: much of the log ages out
        if rng.random() < 0.3:
            limit = Limit("LOG", rng.choice([40, 100, 300]), rng.choice(["50ms", "250ms", "1s"]))


LEASES = ("1ms", "7ms", "250ms", "1s", "30", "30", "15m", "1h", "1d", "36500d")
LEASE_LIMITS = (1, 2, 3, 3, 5, 10_000)


def lease_advance(rng: random.Random, lease_us: int, last: Reply | None) -> int:
    """A step of time around what matters to leases: their duration, the instants the last
    reply named, and now and then a step of the clock back."""
    candidates = [0, 0, 1, 999, 1000, 1001, rng.randrange(0, min(lease_us, 10**6) + 1)]
    if rng.random() < 0.06:
        candidates = [lease_us - 1, lease_us, rng.randrange(0, lease_us + 1)]
    if isinstance(last, list) and rng.random() < 0.15:
        for ms in (last[3], last[4]):
            if ms > 0:
                candidates += [ms * 1000 - 1, ms * 1000, ms * 1000 + 1]
    step = rng.choice(candidates)
    if rng.random() < 0.05:
        step = -rng.choice([1, 1000, 60_000_000, rng.randrange(1, lease_us + 2)])
    return step


def lease_trace(d: Differential, rng: random.Random, steps: int) -> None:
    """RL.ACQUIRE up to the limit and past it (denials and their retry_after), with ids of the
    trace's own (re-acquired: the same holder again) and ids the server makes (each side's kept
    apart), RL.RELEASE and RL.RENEW of held, expired and unknown leases, leases expiring as the
    frozen clock is advanced, the clock stepping back; and a rate limit next to the leases,
    each kind of key refused by the other's commands."""
    limits = {k: rng.choice(LEASE_LIMITS) for k in ("{t}:a", "{t}:b")}
    rate = Limit("SLIDING", 3, "1s")
    pool = [f"worker-{i}" for i in range(5)]
    made: list[tuple[str, bytes, bytes]] = []  # key, the module's id, the script's id
    granted: list[tuple[str, str]] = []  # the trace's own ids granted lately, and their keys
    last: Reply | None = None
    lease = rng.choice(LEASES)
    for _ in range(steps * SOAK):
        key = rng.choice(list(limits))
        if rng.random() < 0.04:
            limits[key] = rng.choice(LEASE_LIMITS)
        limit = limits[key]
        if rng.random() < 0.1:
            lease = rng.choice(LEASES)
        d.advance(lease_advance(rng, window_us(lease), last))
        cost = rng.choice([None, None, None, None, 1, 2, rng.randrange(1, min(limit, 6) + 2)])
        if rng.random() < 0.02:
            cost = rng.choice([limit, limit + 1, 2**63 - 1])
        options = [] if cost is None else [spell(rng, "COST"), cost]
        choice = rng.random()
        if choice < 0.42:
            worker = rng.choice(pool)
            args = [limit, lease, *options, spell(rng, "ID"), worker]
            last = d.run("RL.ACQUIRE", [key], args)
            if isinstance(last, list) and last[0] == 1:
                granted[-4:] = [*granted[-3:], (key, worker)]
        elif choice < 0.54:
            last = d.run("RL.ACQUIRE", [key], [limit, lease, *options])
            script = d.last_script
            if isinstance(last, list) and last[0] == 1:
                assert isinstance(script, list)
                made[-4:] = [*made[-3:], (key, last[5], script[5])]
        elif choice < 0.9:
            command, extra = rng.choice([("RL.RELEASE", []), ("RL.RENEW", [lease])])
            which = rng.random()
            if made and which < 0.3:
                key, module_id, script_id = rng.choice(made)
                d.run(command, [key], [module_id, *extra], [script_id, *extra])
            elif granted and which < 0.8:
                key, worker = rng.choice(granted)
                d.run(command, [key], [worker, *extra])
            else:
                d.run(command, [key], [rng.choice([*pool, "never-held"]), *extra])
        elif choice < 0.96:
            d.run("RL.HIT", ["{t}:r"], hit_args(rng, rate, None))
        # WRONGTYPE both ways: rate-limit commands on leases, lease commands on a limit.
        elif rng.random() < 0.5:
            d.run("RL.HIT", [key], hit_args(rng, rate, None))
        else:
            d.run("RL.ACQUIRE", ["{t}:r"], [limit, lease])


@pytest.fixture(scope="module", params=servers.matrix(), ids=lambda kind: kind.id)
def server(request: pytest.FixtureRequest) -> Iterator[servers.Server]:
    running = servers.start(request.param, clock=True)
    try:
        # Keys then expire only when a command reads them, which both sides do alike. The
        # active expiry samples keys at random: it could delete one of a pair and not the
        # other, which a clock stepping back, or a key read in its very last millisecond,
        # would then tell apart.
        running.client().execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        yield running
    finally:
        running.stop()


@pytest.fixture(params=["script", "function"])
def mode(request: pytest.FixtureRequest) -> Mode:
    value: Mode = request.param
    return value


def differential(
    server: servers.Server, mode: Mode, name: str, base: int = BASE_US
) -> Differential:
    d = Differential(server, mode, name)
    d.at(base + random.Random(name).randrange(0, 10**12))
    return d


@pytest.mark.parametrize("algo", ALGOS)
def test_steady_and_bursts(server: servers.Server, mode: Mode, algo: str) -> None:
    rng = random.Random(f"steady-{algo}")
    steady_trace(differential(server, mode, f"steady-{algo}"), rng, algo)
    bursts_trace(differential(server, mode, f"bursts-{algo}"), rng, algo)


@pytest.mark.parametrize("algo", ALGOS)
def test_edges_and_costs(server: servers.Server, mode: Mode, algo: str) -> None:
    """Requests exactly at, and 1 us and 1 ms around, admission instants, expiries and window
    boundaries, with mixed costs."""
    rng = random.Random(f"edges-{algo}")
    d = differential(server, mode, f"edges-{algo}")
    single_key_trace(d, rng, 200, limits_of(rng, algos=(algo,)), edges=0.5)


def test_parameter_changes(server: servers.Server, mode: Mode) -> None:
    """Another limit, window, algorithm or burst mid-trace: usage carried over, reshaped
    states stored even when denied."""
    rng = random.Random("changes")
    d = differential(server, mode, "changes")
    single_key_trace(d, rng, 1000, limits_of(rng), change=0.3, edges=0.1)


def test_long_logs(server: servers.Server, mode: Mode) -> None:
    rng = random.Random("long-logs")
    long_log_trace(differential(server, mode, "long-logs"), rng, 400)


def test_leases(server: servers.Server, mode: Mode) -> None:
    rng = random.Random("leases")
    lease_trace(differential(server, mode, "leases"), rng, 600)


def test_mhit(server: servers.Server, mode: Mode) -> None:
    rng = random.Random("mhit")
    mhit_trace(differential(server, mode, "mhit"), rng, 700)


def test_extreme_windows_and_limits(server: servers.Server, mode: Mode) -> None:
    """Windows from 1 ms to 36500 days, limits, bursts and costs up to 2^53 - 1: the wide
    arithmetic."""
    rng = random.Random("extremes")
    d = differential(server, mode, "extremes")
    single_key_trace(d, rng, 900, limits_of(rng, extreme=True), change=0.2, edges=0.2)
    mhit_trace(d, rng, 200)


def test_instants_past_2_to_53_and_the_clamp(server: servers.Server, mode: Mode) -> None:
    """Instants above 2^53 microseconds (after 2255), and past 2^56, where the module clamps
    the clock."""
    for name, base in [("beyond-2^53", 2**53 - 10**9), ("clamp-2^56", 2**56 - 10**9)]:
        rng = random.Random(name)
        d = Differential(server, mode, name)
        d.horizon = None
        d.at(base)
        single_key_trace(d, rng, 150, limits_of(rng), change=0.2, edges=0.2)
        d.advance(2 * 10**9)
        single_key_trace(d, rng, 50, limits_of(rng), change=0.2)


def test_clock_steps_back(server: servers.Server, mode: Mode) -> None:
    """The clock steps back (or a state comes from a host whose clock is ahead): the state is
    read as of now, and stored so even when the request is denied."""
    rng = random.Random("clock-steps")
    d = differential(server, mode, "clock-steps")
    limits = limits_of(rng)
    keys = {k: next(limits) for k in ("a", "b")}
    for _ in range(300 * SOAK):
        key = rng.choice(list(keys))
        if rng.random() < 0.1:
            keys[key] = next(limits)
        limit = keys[key]
        step = random_advance(rng, limit, None)
        if rng.random() < 0.3:
            step = -rng.choice([1, 1000, step, limit.window_us // 2, 3_600_000_000])
        d.advance(step)
        if rng.random() < 0.2:
            d.run("RL.MHIT", list(keys), mhit_args(rng, list(keys.values()), None))
        elif rng.random() < 0.15:
            d.peek(rng, key, limit, random_cost(rng, limit.capacity))
        else:
            d.hit(rng, key, limit, random_cost(rng, limit.capacity))


def test_windows_starting_before_1970(server: servers.Server, mode: Mode) -> None:
    """Today's clock and windows longer than the time since 1970: a new key's first window
    starts before 1970."""
    rng = random.Random("before-1970")
    d = differential(server, mode, "before-1970")
    d.horizon = 2_000_000_000_000_000  # stays in this century, where the windows start before 1970

    def limits() -> Iterator[Limit]:
        # Limit 1 places a new key's first window a whole window back; other algorithms and
        # limits reshape the state into and out of such windows.
        while True:
            window = rng.choice(["36500d", "30000d", "21000d", "1d"])
            if rng.random() < 0.6:
                yield Limit(rng.choice([None, "SLIDING"]), 1, window)
            else:
                yield random_limit(rng, window=window)

    single_key_trace(d, rng, 200, limits(), change=0.3, edges=0.3)
