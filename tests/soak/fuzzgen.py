"""Random RL.* commands: mostly well-formed requests that drive keys through every algorithm
and parameter change, and around them every kind of malformed argument (numbers at and around
each bound, durations with every unit and junk, options in every case, order and repetition,
missing values, random bytes, wrong arity), on keys of every other type and binary names;
and the lease commands (RL.ACQUIRE, RL.RELEASE, RL.RENEW, RL.SETLEASES) on keys of leases,
on rate-limit keys and on the rest.

Everything comes from one `random.Random`, so a seed gives the same commands every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import leases
import states

NUMBER_EDGES = [
    "0",
    "1",
    "2",
    "3",
    "10",
    "100",
    "16383",
    "16384",
    "32767",
    "32768",
    "4194303",
    "4194304",
    "4294967295",
    "4294967296",
    "9007199254740992",
    "9007199254740993",
    "9223372036854775806",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "-1",
    "-0",
    "+1",
    "-9223372036854775808",
    "01",
    "007",
    "00",
    " 5",
    "5 ",
    " ",
    "",
    "1e3",
    "1E3",
    "1.0",
    "1.5",
    "0x10",
    "inf",
    "nan",
    "abc",
    "\u0663",
    "5\x00",
    "\xff",
]
UNITS = ["", "ms", "s", "m", "h", "d", "MS", "S", "M", "H", "D", "Ms", "mS"]
BAD_UNITS = ["us", "\u00b5s", "y", "w", "sec", "min", "ns", " s", "s ", "mss", "dd", "\x00"]
DURATION_EDGES = [
    "36500d",
    "36501d",
    "876000h",
    "876001h",
    "52560000m",
    "52560001m",
    "3153600000",
    "3153600001",
    "3153600000s",
    "3153600000000ms",
    "3153600000001ms",
    "1ms",
    "0ms",
    "0",
    "1",
    "999us",
    "18446744073709551615ms",
    "18446744073709551ms",
    "18446744073709552ms",
    "18446744073709551616",
    "ms",
    "s",
    "d",
    "1.5s",
    "-1",
    "1e3",
    "01s",
    "00ms",
    "60 ",
]
ALGOS = ["SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA"]
BUCKETS = ALGOS[2:]
BAD_ALGOS = ["CELL", "", "GCRA\x00", "SLIDING ", "tokens", "\xff"]
OPTION_JUNK = ["FOO", "", "COST\x00", "COSTS", "LIMIT", "NX", "\x01\x02", "x" * 40]

OTHER_TYPES = ("string", "list", "hash", "set", "zset", "stream")
RL_KEYS: list[bytes] = (
    [f"rl:{i}".encode() for i in range(24)]
    + [b"", b"\x00", b"\xff\xfe\x00bin", b" ", b"\r\n", "ключ".encode(), b"k" * 600]
    + [b"{t}a", b"{t}b", b"{t}c", b"{t}d"]
)
# Keys the lease commands usually take (rate-limit commands meet them now and then, and the
# lease commands meet rate-limit keys, for WRONGTYPE both ways). Named rl:* so that the
# ACL-limited user reaches them too.
LEASE_KEYS: list[bytes] = [f"rl:lease:{i}".encode() for i in range(10)] + [b"{t}l"]
LEASE_IDS = [b"job-0", b"job-1", b"job-2", b"job-3", b"\x00", b"\xff" * 64]
BAD_IDS = [b"", b"x" * 65, b"\x00" * 65]


def other_keys() -> dict[bytes, str]:
    """Keys of every other type, with and without an expiry."""
    keys = {}
    for t in OTHER_TYPES:
        keys[f"other:{t}".encode()] = t
        keys[f"other:{t}:ttl".encode()] = t
    return keys


def random_case(rng: random.Random, word: str) -> str:
    roll = rng.random()
    if roll < 0.5:
        return word
    if roll < 0.7:
        return word.lower()
    if roll < 0.8:
        return word.capitalize()
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in word)


@dataclass
class Home:
    """The parameters a key is usually hit with, so that keys fill up and get denied."""

    algorithm: str
    limit: int
    window: str
    window_us: int
    burst: int | None


@dataclass
class LeaseHome:
    """The limit and lease a key of leases is usually taken with."""

    limit: int
    lease: str


@dataclass
class Generator:
    rng: random.Random
    # The algorithms the module knows (ALGO LOG came after 0.1).
    algos: tuple[str, ...] = tuple(ALGOS)
    # rl.lease-max-held when the module has the lease commands, else None.
    lease_max_held: int | None = None
    now_us: int = 0
    homes: dict[bytes, Home] = field(default_factory=dict)
    lease_homes: dict[bytes, LeaseHome] = field(default_factory=dict)
    others: dict[bytes, str] = field(default_factory=other_keys)
    # Ids the server granted, per key (filled from the replies), for RL.RELEASE and RL.RENEW.
    granted: dict[bytes, list[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in RL_KEYS:
            self.homes[key] = self.random_home()
        for key in LEASE_KEYS:
            lease = self.rng.choice(["10s", "1m", "5m", "2h", "1d", "1500ms", "3s"])
            self.lease_homes[key] = LeaseHome(self.rng.randint(1, 6), lease)

    # Tokens -------------------------------------------------------------------------------

    def key(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.12:
            return self.rng.choice(list(self.others))
        if roll < 0.14:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 12)))
        if roll < 0.17 and self.lease_max_held is not None:
            return self.rng.choice(LEASE_KEYS)
        return self.rng.choice(RL_KEYS)

    def lease_key(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.8:
            return self.rng.choice(LEASE_KEYS)
        if roll < 0.9:
            return self.rng.choice(RL_KEYS)
        return self.key()

    def junk(self) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.rng.choice(NUMBER_EDGES)
        if roll < 0.7:
            return self.rng.choice(DURATION_EDGES)
        if roll < 0.8:
            return self.rng.choice(OPTION_JUNK + BAD_ALGOS)
        return "".join(chr(self.rng.randrange(1, 256)) for _ in range(self.rng.randint(0, 8)))

    def small(self, top: int = 20) -> str:
        roll = self.rng.random()
        if roll < 0.85:
            return str(self.rng.randint(1, top))
        if roll < 0.95:
            return str(self.rng.randint(1, 10**6))
        return self.rng.choice(NUMBER_EDGES)

    def window(self) -> str:
        roll = self.rng.random()
        if roll < 0.8:
            unit = self.rng.choice(UNITS)
            base = {"": 60, "s": 60, "ms": 5000, "m": 10, "h": 3, "d": 2}[unit.lower()]
            return f"{self.rng.randint(1, base)}{unit}"
        if roll < 0.9:
            return self.rng.choice(DURATION_EDGES)
        return f"{self.rng.randint(0, 99)}{self.rng.choice(BAD_UNITS)}"

    def random_home(self) -> Home:
        unit, scale = self.rng.choice([("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000)])
        n = self.rng.randint(1, 90)
        algorithm = self.rng.choice(self.algos)
        burst = (
            self.rng.randint(1, 30) if algorithm in BUCKETS and self.rng.random() < 0.5 else None
        )
        return Home(algorithm, self.rng.randint(1, 20), f"{n}{unit}", n * scale, burst)

    # Commands -----------------------------------------------------------------------------

    def mutate(self, args: list[str | bytes]) -> list[str | bytes]:
        """Now and then breaks an otherwise well-formed argument list."""
        roll = self.rng.random()
        if roll < 0.06 and len(args) > 1:
            args[self.rng.randrange(1, len(args))] = self.junk()
        elif roll < 0.09:
            del args[self.rng.randint(1, len(args)) :]
        elif roll < 0.12:
            args += [self.junk() for _ in range(self.rng.randint(1, 3))]
        elif roll < 0.13:
            args += [self.junk() for _ in range(self.rng.randint(50, 200))]
        return args

    def options(self, algorithm: str | None, burst: str | None, cost: str | None) -> list[str]:
        pairs: list[list[str]] = []
        if algorithm is not None:
            pairs.append([random_case(self.rng, "ALGO"), random_case(self.rng, algorithm)])
        if burst is not None:
            pairs.append([random_case(self.rng, "BURST"), burst])
        if cost is not None:
            pairs.append([random_case(self.rng, "COST"), cost])
        if pairs and self.rng.random() < 0.05:
            pairs.append(list(self.rng.choice(pairs)))
        if self.rng.random() < 0.03:
            pairs.append([self.rng.choice(OPTION_JUNK), self.small()])
        self.rng.shuffle(pairs)
        flat = [token for pair in pairs for token in pair]
        if flat and self.rng.random() < 0.03:
            flat.pop()
        return flat

    def limit_args(self, key: bytes) -> list[str]:
        """limit window [options] for a key: its home parameters or random ones."""
        home = self.homes.get(key)
        if home is not None and self.rng.random() < 0.6:
            algorithm: str | None = home.algorithm
            if algorithm == "SLIDING" and self.rng.random() < 0.5:
                algorithm = None
            burst = None
            if home.burst is not None:
                burst = str(home.burst) if self.rng.random() < 0.7 else self.small(40)
            cost = self.small(3) if self.rng.random() < 0.3 else None
            return [str(home.limit), home.window, *self.options(algorithm, burst, cost)]
        algorithm = (
            self.rng.choice([*self.algos, None])
            if self.rng.random() < 0.95
            else self.rng.choice(BAD_ALGOS)
        )
        burst = (
            self.small(40) if self.rng.random() < (0.5 if algorithm in BUCKETS else 0.05) else None
        )
        cost = self.small(5) if self.rng.random() < 0.4 else None
        return [self.small(), self.window(), *self.options(algorithm, burst, cost)]

    def hit(self) -> list[str | bytes]:
        name = random_case(self.rng, self.rng.choice(["RL.HIT", "RL.HIT", "RL.PEEK"]))
        key = self.key()
        return self.mutate([name, key, *self.limit_args(key)])

    def mhit(self) -> list[str | bytes]:
        count = self.rng.choice([1, 1, 2, 2, 3, 4, 8])
        if self.rng.random() < 0.02:
            # The most keys one call may take, and one more.
            keys = [f"{{t}}m{i}".encode() for i in range(self.rng.choice((64, 65)))]
        elif self.rng.random() < 0.5:
            keys = self.rng.sample(RL_KEYS[-4:], min(count, 4))
        else:
            keys = [self.key() for _ in range(count)]
        numkeys: str = str(len(keys))
        if self.rng.random() < 0.05:
            numkeys = self.rng.choice(["0", "64", "65", str(len(keys) + 1), "-1", "01", ""])
        args: list[str | bytes] = [random_case(self.rng, "RL.MHIT"), numkeys, *keys]
        cost = self.small(3) if self.rng.random() < 0.3 else None
        clauses = len(keys) + (self.rng.choice([-1, 1]) if self.rng.random() < 0.04 else 0)
        for i in range(max(0, clauses)):
            key = keys[i] if i < len(keys) else b"-"
            limit_args = self.limit_args(key)
            args += [random_case(self.rng, "LIMIT"), *limit_args]
            if cost is not None and self.rng.random() < 0.1:
                args += ["COST", cost]
                cost = None
        if cost is not None:
            args += [random_case(self.rng, "COST"), cost]
        return self.mutate(args)

    def throttle(self) -> list[str | bytes]:
        def n(top: int) -> str:
            roll = self.rng.random()
            if roll < 0.85:
                return str(self.rng.randint(0, top))
            return self.rng.choice(NUMBER_EDGES)

        args: list[str | bytes] = [
            random_case(self.rng, "CL.THROTTLE"),
            self.key(),
            n(20),
            n(20),
            n(3600) if self.rng.random() < 0.95 else self.rng.choice(DURATION_EDGES),
        ]
        if self.rng.random() < 0.5:
            args.append(n(5))
        return self.mutate(args)

    def set_state(self) -> list[str | bytes]:
        key = self.key()
        roll = self.rng.random()
        if roll < 0.45:
            data = self.state_for(key).encode()
        elif roll < 0.75:
            data = states.random_valid(self.rng, self.now_us).encode()
        elif roll < 0.9:
            flipped = bytearray(states.random_valid(self.rng, self.now_us).encode())
            flipped[self.rng.randrange(len(flipped))] ^= 1 << self.rng.randrange(8)
            data = bytes(flipped)
        else:
            data = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 50)))
        return self.mutate([random_case(self.rng, "RL.SETSTATE"), key, data])

    def state_for(self, key: bytes) -> states.State:
        """A state shaped like the key's home parameters, with its fields at their edges."""
        home = self.homes.get(key) or self.random_home()
        w = home.window_us
        if home.algorithm == "SLIDING":
            start = self.rng.choice(
                [self.now_us - w // 2, self.now_us + 10 * w, states.MAX_INSTANT]
            )
            n = self.rng.choice([0, 1, home.limit, home.limit * 2, states.MAX_LIMIT])
            return states.State(states.SLIDING, (w, start, n, self.rng.choice([0, n])))
        if home.algorithm == "FIXED":
            start = self.rng.choice(
                [self.now_us - w // 2, self.now_us + 10 * w, states.MAX_INSTANT]
            )
            n = self.rng.choice([0, 1, home.limit, states.MAX_LIMIT])
            return states.State(states.FIXED, (w, start, n))
        limit = home.limit
        burst_max = limit * states.MAX_WINDOW // w
        burst = self.rng.choice([1, limit, home.burst or limit, burst_max])
        tat = self.rng.choice(
            [
                self.now_us + w,
                states.MAX_INSTANT + states.MAX_WINDOW,
                states.MAX_INSTANT,
                self.now_us + burst * w // limit,
            ]
        )
        tat = min(tat, states.MAX_INSTANT + states.MAX_WINDOW)
        return states.State(states.BUCKET, (w, limit, burst, tat, self.rng.randrange(limit)))

    # Leases -------------------------------------------------------------------------------

    def lease_id(self, key: bytes) -> bytes:
        """An id the key may hold: a client's, one the server granted, or a bad one."""
        roll = self.rng.random()
        made = self.granted.get(key)
        if roll < 0.45 and made:
            return self.rng.choice(made)
        if roll < 0.9:
            return self.rng.choice(LEASE_IDS)
        if roll < 0.95:
            return self.rng.choice(BAD_IDS)
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 20)))

    def lease_limit(self, key: bytes) -> str:
        home = self.lease_homes.get(key)
        roll = self.rng.random()
        if home is not None and roll < 0.7:
            return str(home.limit)
        most = self.lease_max_held or 1
        if roll < 0.8:
            return self.rng.choice([str(most), str(most + 1), "1000000", "1000001"])
        return self.small(8)

    def lease_duration(self, key: bytes) -> str:
        home = self.lease_homes.get(key)
        if home is not None and self.rng.random() < 0.6:
            return home.lease
        return self.window()

    def acquire(self) -> list[str | bytes]:
        key = self.lease_key()
        pairs: list[list[str | bytes]] = []
        if self.rng.random() < 0.3:
            pairs.append([random_case(self.rng, "COST"), self.small(3)])
        if self.rng.random() < 0.5:
            pairs.append([random_case(self.rng, "ID"), self.lease_id(key)])
        if pairs and self.rng.random() < 0.05:
            pairs.append(list(self.rng.choice(pairs)))
        if self.rng.random() < 0.03:
            pairs.append([self.rng.choice(["ALGO", "BURST", "LEASE", *OPTION_JUNK]), self.small()])
        self.rng.shuffle(pairs)
        flat = [token for pair in pairs for token in pair]
        if flat and self.rng.random() < 0.03:
            flat.pop()
        name = random_case(self.rng, "RL.ACQUIRE")
        args = [name, key, self.lease_limit(key), self.lease_duration(key), *flat]
        return self.mutate(args)

    def release(self) -> list[str | bytes]:
        key = self.lease_key()
        return self.mutate([random_case(self.rng, "RL.RELEASE"), key, self.lease_id(key)])

    def renew(self) -> list[str | bytes]:
        key = self.lease_key()
        args: list[str | bytes] = [random_case(self.rng, "RL.RENEW"), key, self.lease_id(key)]
        return self.mutate([*args, self.lease_duration(key)])

    def set_leases(self) -> list[str | bytes]:
        key = self.lease_key()
        roll = self.rng.random()
        state = leases.random_valid(self.rng, self.now_us)
        if roll < 0.3:
            # Leases under the ids the other commands name, dated now: later commands meet them.
            expiry = self.now_us + self.rng.choice([60_000_000, 3_600_000_000])
            n = self.rng.randint(1, 3)
            mine = tuple(leases.Lease(i, expiry, 1) for i in self.rng.sample(LEASE_IDS, n))
            data = leases.Leases(self.rng.randint(n, 6), self.now_us, mine).encode()
        elif roll < 0.65:
            data = state.encode()
        elif roll < 0.9:
            flipped = bytearray(state.encode())
            flipped[self.rng.randrange(len(flipped))] ^= 1 << self.rng.randrange(8)
            data = bytes(flipped)
        else:
            data = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 60)))
        return self.mutate([random_case(self.rng, "RL.SETLEASES"), key, data])

    def lease_command(self) -> list[str | bytes]:
        roll = self.rng.random()
        if roll < 0.5:
            return self.acquire()
        if roll < 0.7:
            return self.release()
        if roll < 0.85:
            return self.renew()
        return self.set_leases()

    def companion(self) -> list[str | bytes]:
        """A server command that runs the data types' callbacks on a module key: copy,
        memory usage, digest, free (UNLINK), rename."""
        a, b = self.rng.sample(RL_KEYS + LEASE_KEYS[:3], 2)
        return self.rng.choice(
            [
                ["COPY", a, b, "REPLACE"],
                ["RENAME", a, b],
                ["MEMORY", "USAGE", a],
                ["DEBUG", "DIGEST-VALUE", a],
                ["DEBUG", "OBJECT", a],
                ["OBJECT", "ENCODING", a],
                ["UNLINK", a],
                ["DUMP", a],
            ]
        )

    def command(self) -> list[str | bytes]:
        roll = self.rng.random()
        if roll < 0.03:
            return self.companion()
        if roll < 0.5:
            return self.hit()
        if roll < 0.66:
            return self.mhit()
        if roll < 0.76:
            return self.throttle()
        if roll < 0.85 or self.lease_max_held is None:
            return self.set_state()
        return self.lease_command()


def to_bytes(args: list[str | bytes]) -> list[bytes]:
    return [a if isinstance(a, bytes) else a.encode("utf-8", "surrogatepass") for a in args]
