"""What the module should answer to a command's arguments, worked out independently of it from
the grammar the README documents (and core/src/parse.rs implements): either the parameters of a
valid request, or the exact error it must be refused with.

The fuzzer compares every reply with this model: a valid request answered with an error, an
invalid one answered with a decision, or an error other than the documented one is a finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_LIMIT = (1 << 63) - 1
U64 = (1 << 64) - 1
MIN_WINDOW_US = 1_000
MAX_WINDOW_US = 36_500 * 86_400_000 * 1_000
MAX_KEYS = 64
ALGORITHMS = ("SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA")
BUCKETS = ("TOKEN", "LEAKY", "GCRA")


@dataclass(frozen=True)
class Grammar:
    """What differs between generations of the module's argument parsing (see `detect`)."""

    algorithms: tuple[str, ...] = ALGORITHMS
    # ALGO LOG's bound on the entries a key may need (rl.log-max-entries), when it has LOG.
    log_max_entries: int | None = None
    # CL.THROTTLE checks the period's range after parsing the quantity (module 0.2 on).
    late_period_range: bool = False
    # RL.ACQUIRE's bound on a limit (rl.lease-max-held), when the module has leases.
    lease_max_held: int | None = None

    @property
    def algo_error(self) -> str:
        names = self.algorithms
        return f"ERR ALGO must be one of {', '.join(names[:-1])} or {names[-1]}"


MODULE_0_1 = Grammar()
UNITS_MS = {b"": 1_000, b"s": 1_000, b"ms": 1, b"m": 60_000, b"h": 3_600_000, b"d": 86_400_000}

E_LIMIT = f"ERR limit must be an integer from 1 to {MAX_LIMIT}"
E_WINDOW = (
    "ERR window must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to 36500d)"
)
E_COST = f"ERR COST must be an integer from 1 to {MAX_LIMIT}"
E_BURST = f"ERR BURST must be an integer from 1 to {MAX_LIMIT}"
E_BURST_NO_BUCKET = "ERR BURST applies to ALGO TOKEN, LEAKY and GCRA only"
E_BURST_TOO_LARGE = (
    "ERR BURST is too large for this rate: BURST × window / limit must be at most 36500d"  # noqa: RUF001
)
E_NUMKEYS = f"ERR numkeys must be an integer from 1 to {MAX_KEYS}, and no more than the keys given"
E_REPEATED_KEY = "ERR RL.MHIT keys must be distinct"
E_MAX_BURST = f"ERR max_burst must be an integer from 0 to {MAX_LIMIT - 1}"
E_COUNT = f"ERR count must be an integer from 1 to {MAX_LIMIT}"
E_PERIOD = f"ERR period must be a number of seconds from 1 to {MAX_WINDOW_US // 1_000_000}"
E_QUANTITY = f"ERR quantity must be an integer from 0 to {MAX_LIMIT}"
E_CELL_BURST = (
    "ERR max_burst is too large for this rate: (max_burst + 1) × period / count must be at "  # noqa: RUF001
    "most 36500d"
)
E_STATE_PREFIX = "ERR state is not a valid rate limiter state"
E_LEASES_PREFIX = "ERR state is not a valid leases state"
E_LEASE = "ERR lease must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to 36500d)"
MAX_ID_LEN = 64


def e_lease_limit(most: int) -> str:
    return (
        f"ERR limit must be an integer from 1 to {most}, the most leases a key may hold "
        "(rl.lease-max-held)"
    )


def e_id(name: str) -> str:
    return f"ERR {name} must be from 1 to {MAX_ID_LEN} bytes"


class Refused(Exception):
    """The arguments are invalid: `message` is the error the module must answer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def missing(option: str) -> Refused:
    return Refused(f"ERR {option} needs a value")


def repeated(option: str) -> Refused:
    return Refused(f"ERR {option} is given more than once")


def clause_count(keys: int, clauses: int) -> Refused:
    return Refused(
        f"ERR RL.MHIT needs one LIMIT clause per key: {keys} keys, {clauses} LIMIT clauses"
    )


def outside_clause(option: str) -> Refused:
    return Refused(f"ERR {option} must follow the LIMIT clause it applies to")


def unknown(name: bytes, expected: str) -> Refused:
    shown = "".join(chr(b) if 0x20 <= b <= 0x7E else "?" for b in name[:32])
    return Refused(f"ERR unknown option '{shown}', expected {expected}")


@dataclass(frozen=True)
class Limit:
    algorithm: str
    limit: int
    window_us: int
    burst: int
    cost: int

    @property
    def capacity(self) -> int:
        return self.burst if self.algorithm in BUCKETS else self.limit


def integer(text: bytes) -> int | None:
    """Redis' integer syntax: digits only, no sign, no leading zero except "0"."""
    if text == b"0":
        return 0
    if not text or not 0x31 <= text[0] <= 0x39 or not all(0x30 <= b <= 0x39 for b in text):
        return None
    value = int(text)
    return value if value <= U64 else None


def count(text: bytes) -> int | None:
    n = integer(text)
    return n if n is not None and 1 <= n <= MAX_LIMIT else None


def duration_us(text: bytes) -> int | None:
    digits = 0
    while digits < len(text) and 0x30 <= text[digits] <= 0x39:
        digits += 1
    unit = UNITS_MS.get(text[digits:].lower())
    number = integer(text[:digits])
    if unit is None or number is None:
        return None
    ms = number * unit
    if ms > U64 or ms * 1000 > U64:
        return None
    us = ms * 1000
    return us if MIN_WINDOW_US <= us <= MAX_WINDOW_US else None


def drains_in_time(burst: int, window_us: int, limit: int) -> bool:
    return burst * window_us <= limit * MAX_WINDOW_US


def log_too_long(needs: int, most: int) -> Refused:
    return Refused(
        "ERR ALGO LOG keeps an entry per millisecond with admissions in the window, up to "
        f"{needs} for this limit and window, more than rl.log-max-entries ({most})"
    )


class Options:
    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self.algorithm: str | None = None
        self.burst: int | None = None

    def take(self, name: bytes, value: bytes | None) -> bool:
        upper = name.upper()
        if upper == b"ALGO":
            if value is None:
                raise missing("ALGO")
            algo = value.upper().decode("latin-1")
            if algo not in self.grammar.algorithms:
                raise Refused(self.grammar.algo_error)
            if self.algorithm is not None:
                raise repeated("ALGO")
            self.algorithm = algo
            return True
        if upper == b"BURST":
            if value is None:
                raise missing("BURST")
            burst = count(value)
            if burst is None:
                raise Refused(E_BURST)
            if self.burst is not None:
                raise repeated("BURST")
            self.burst = burst
            return True
        return False

    def params(self, limit: int, window_us: int, cost: int) -> Limit:
        algorithm = self.algorithm or "SLIDING"
        if self.burst is not None and algorithm not in BUCKETS:
            raise Refused(E_BURST_NO_BUCKET)
        burst = self.burst if self.burst is not None else limit
        if not drains_in_time(burst, window_us, limit):
            raise Refused(E_BURST_TOO_LARGE)
        most = self.grammar.log_max_entries
        if algorithm == "LOG" and most is not None:
            # At most one entry per millisecond, and each holds at least one unit.
            needs = min(limit, window_us // 1000)
            if needs > most:
                raise log_too_long(needs, most)
        return Limit(algorithm, limit, window_us, burst, cost)


def hit_params(args: list[bytes], grammar: Grammar = MODULE_0_1) -> Limit:
    """RL.HIT / RL.PEEK arguments after the key: limit window [options]."""
    limit = count(args[0])
    if limit is None:
        raise Refused(E_LIMIT)
    window = duration_us(args[1])
    if window is None:
        raise Refused(E_WINDOW)
    cost: int | None = None
    options = Options(grammar)
    rest = args[2:]
    i = 0
    while i < len(rest):
        name = rest[i]
        value = rest[i + 1] if i + 1 < len(rest) else None
        i += 2
        if name.upper() == b"COST":
            if value is None:
                raise missing("COST")
            n = count(value)
            if n is None:
                raise Refused(E_COST)
            if cost is not None:
                raise repeated("COST")
            cost = n
        elif not options.take(name, value):
            raise unknown(name, "COST, ALGO or BURST")
    return options.params(limit, window, cost if cost is not None else 1)


def mhit_params(
    numkeys: bytes, rest: list[bytes], grammar: Grammar = MODULE_0_1
) -> tuple[list[bytes], list[Limit]]:
    """RL.MHIT arguments after numkeys: the keys and one limit per key."""
    n = integer(numkeys)
    if n is None or not 1 <= n <= MAX_KEYS or n > len(rest):
        raise Refused(E_NUMKEYS)
    keys, tokens = rest[:n], rest[n:]
    if len(set(keys)) != len(keys):
        raise Refused(E_REPEATED_KEY)
    clauses: list[tuple[int, int, Options]] = []
    cost: int | None = None
    i = 0
    while i < len(tokens):
        name = tokens[i]
        i += 1
        if name.upper() == b"LIMIT":
            if i >= len(tokens):
                raise missing("LIMIT")
            limit_text = tokens[i]
            i += 1
            if i >= len(tokens):
                raise missing("LIMIT")
            window_text = tokens[i]
            i += 1
            limit = count(limit_text)
            if limit is None:
                raise Refused(E_LIMIT)
            window = duration_us(window_text)
            if window is None:
                raise Refused(E_WINDOW)
            if len(clauses) == MAX_KEYS:
                raise clause_count(n, MAX_KEYS + 1)
            clauses.append((limit, window, Options(grammar)))
            continue
        value = tokens[i] if i < len(tokens) else None
        i += 1
        upper = name.upper()
        if upper == b"COST":
            if value is None:
                raise missing("COST")
            c = count(value)
            if c is None:
                raise Refused(E_COST)
            if cost is not None:
                raise repeated("COST")
            cost = c
        elif upper in (b"ALGO", b"BURST"):
            if not clauses:
                raise outside_clause(upper.decode())
            clauses[-1][2].take(name, value)
        else:
            raise unknown(name, "LIMIT, COST, ALGO or BURST")
    if len(clauses) != n:
        raise clause_count(n, len(clauses))
    final_cost = cost if cost is not None else 1
    return keys, [opts.params(limit, window, final_cost) for limit, window, opts in clauses]


def throttle_params(args: list[bytes], grammar: Grammar = MODULE_0_1) -> Limit:
    """CL.THROTTLE arguments after the key: max_burst count period [quantity]."""
    max_burst = integer(args[0])
    if max_burst is None or max_burst >= MAX_LIMIT:
        raise Refused(E_MAX_BURST)
    burst = max_burst + 1
    limit = count(args[1])
    if limit is None:
        raise Refused(E_COUNT)
    seconds = integer(args[2])
    if seconds is None:
        raise Refused(E_PERIOD)
    window = seconds * 1_000_000
    in_range = window <= U64 and 1_000_000 <= window <= MAX_WINDOW_US
    # Module 0.1 checks the period's range at once; later ones after parsing the quantity.
    if seconds == 0 or not (in_range or grammar.late_period_range):
        raise Refused(E_PERIOD)
    cost = 1
    if len(args) > 3:
        q = integer(args[3])
        if q is None or (q > MAX_LIMIT and not grammar.late_period_range):
            raise Refused(E_QUANTITY)
        cost = q
    if not in_range:
        raise Refused(E_PERIOD)
    if cost > MAX_LIMIT:
        raise Refused(E_QUANTITY)
    if not drains_in_time(burst, window, limit):
        raise Refused(E_CELL_BURST)
    return Limit("GCRA", limit, window, burst, cost)


@dataclass(frozen=True)
class LeaseRequest:
    """An RL.ACQUIRE the module must decide: `id` None when the server makes one."""

    limit: int
    lease_us: int
    cost: int
    id: bytes | None


def lease_id(text: bytes, name: str) -> bytes:
    if not 1 <= len(text) <= MAX_ID_LEN:
        raise Refused(e_id(name))
    return text


def lease_duration(text: bytes) -> int:
    us = duration_us(text)
    if us is None:
        raise Refused(E_LEASE)
    return us


def acquire_params(args: list[bytes], grammar: Grammar) -> LeaseRequest:
    """RL.ACQUIRE arguments after the key: limit lease [COST n] [ID id], checked in that
    order (the limit, the lease, then each option as it comes)."""
    most = grammar.lease_max_held or 1
    limit = count(args[0])
    if limit is None or limit > most:
        raise Refused(e_lease_limit(most))
    lease = lease_duration(args[1])
    cost: int | None = None
    given: bytes | None = None
    rest = args[2:]
    i = 0
    while i < len(rest):
        name = rest[i]
        value = rest[i + 1] if i + 1 < len(rest) else None
        i += 2
        upper = name.upper()
        if upper == b"COST":
            if value is None:
                raise missing("COST")
            n = count(value)
            if n is None:
                raise Refused(E_COST)
            if cost is not None:
                raise repeated("COST")
            cost = n
        elif upper == b"ID":
            if value is None:
                raise missing("ID")
            text = lease_id(value, "ID")
            if given is not None:
                raise repeated("ID")
            given = text
        else:
            raise unknown(name, "COST or ID")
    return LeaseRequest(limit, lease, cost if cost is not None else 1, given)


def detect(call: Callable[..., object]) -> Grammar:
    """The grammar of the module a server runs, found by asking it: whether it knows ALGO LOG
    (and its rl.log-max-entries), leases (and rl.lease-max-held), and where CL.THROTTLE
    checks a period's range. `call` sends
    one command and returns its reply (an error reply as a value)."""
    algorithms: tuple[str, ...] = ALGORITHMS
    most = None
    # The config comes with ALGO LOG (and needs no key: this works on a cluster node too).
    config = call("CONFIG", "GET", "rl.log-max-entries")
    if isinstance(config, list) and len(config) == 2 and isinstance(config[1], bytes):
        algorithms = (*ALGORITHMS, "LOG")
        most = int(config[1])
    refused = str(call("CL.THROTTLE", "soak:grammar", "1", "1", "99999999999999999", "abc"))
    held = call("CONFIG", "GET", "rl.lease-max-held")
    lease_max_held = None
    if isinstance(held, list) and len(held) == 2 and isinstance(held[1], bytes):
        lease_max_held = int(held[1])
    return Grammar(algorithms, most, "quantity" in refused, lease_max_held)
