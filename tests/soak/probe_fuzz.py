"""Probe 1: command fuzzing.

Rounds of random RL.* commands (fuzzgen.py), pipelined, plain, inside MULTI/EXEC and inside
Lua scripts, in RESP2 and RESP3, through COMMAND GETKEYS, from a user whose ACL allows only
some keys, mixed with server commands that run the data type's callbacks (COPY, RENAME,
MEMORY USAGE, DEBUG DIGEST-VALUE, UNLINK...), on a server whose clock is frozen and moved by
the round's seed, so that a seed replays exactly (nearly so on Valkey, whose frozen clock
drifts by microseconds within an event-loop turn). Every reply is checked against the
argument grammar (argmodel.py) and the bounds of a decision (replies.py). After every batch:
the server answers PING; every rate-limit key has a TTL and a state its own DUMP can
RESTORE; every key of another type keeps its value and TTL. At the end of a round DEBUG
RELOAD succeeds and keeps the number of keys and the DEBUG DIGEST.

Re-run one round: run.py --probe fuzz --server <id> --seed <seed> --one-seed.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

import argmodel
import dump
import fuzzgen
import harness
import keytypes
import leases
import replies
import servers
import states
from argmodel import LeaseRequest, Limit, Refused
from keytypes import LEASES, RATELIMIT
from report import ServerReport, log
from resp import Arg, Connection, ConnectionLost, Error, Reply, Status

PROBE = "fuzz"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SCRIPT = "return redis.pcall(unpack(ARGV))"
SCRIPT_WITH_KEY = (
    "local a = {ARGV[1], KEYS[1]} for i = 2, #ARGV do a[#a + 1] = ARGV[i] end "
    "return redis.pcall(unpack(a))"
)
COMPANIONS = {b"COPY", b"RENAME", b"MEMORY", b"DEBUG", b"OBJECT", b"UNLINK", b"DUMP"}
ARITY = {
    b"RL.HIT": -4,
    b"RL.PEEK": -4,
    b"RL.MHIT": -6,
    b"CL.THROTTLE": -5,
    b"RL.SETSTATE": 3,
    b"RL.ACQUIRE": -4,
    b"RL.RELEASE": 3,
    b"RL.RENEW": 4,
    b"RL.SETLEASES": 3,
}
# Replication plumbing a server may keep from its clients (internal commands on Redis 8).
PLUMBING = (b"RL.SETSTATE", b"RL.SETLEASES")
LUA_EXACT = 1 << 53
# How each key of another type is made: the command, then its arguments after the key.
CREATE: dict[str, list[Arg]] = {
    "string": ["SET", b"v\x00\xff"],
    "list": ["RPUSH", "a", "b"],
    "hash": ["HSET", "f", "v"],
    "set": ["SADD", "m"],
    "zset": ["ZADD", "1", "m"],
    "stream": ["XADD", "1-1", "f", "v"],
}
WRITES = {
    b"RL.HIT",
    b"RL.MHIT",
    b"CL.THROTTLE",
    b"RL.SETSTATE",
    b"RL.ACQUIRE",
    b"RL.RELEASE",
    b"RL.RENEW",
    b"RL.SETLEASES",
}
CLOCK_MOVES_US = [
    0,
    0,
    1_000,
    7_000,
    999_000,
    1_000_000,
    59_000_000,
    60_000_000,
    3_600_000_000,
    86_400_000_000,
    -1_000_000,
    -3_600_000_000,
]


@dataclass(frozen=True)
class Expect:
    """What a command must be answered with."""

    kind: str  # arity | error | wrongtype | decision | mhit | throttle | ok | companion
    # | refused (RL.SETSTATE or RL.SETLEASES kept from this client) | restore (a state
    # planted instead) | either (a state a later module may accept: OK, or the state error)
    # | acquire | held (RL.RELEASE, RL.RENEW)
    name: bytes
    error: str = ""
    wrongtype: bool = False
    limit: Limit | None = None
    limits: tuple[Limit, ...] = ()
    # The value the command reads or writes (ratelimit or rl-leases), and the keys it opens:
    # WRONGTYPE is due when one holds the other kind (keytypes.py).
    family: str = ""
    keys: tuple[bytes, ...] = ()
    request: LeaseRequest | None = None
    lease_id: bytes = b""


def arity_ok(name: bytes, argc: int) -> bool:
    arity = ARITY[name]
    return argc == arity if arity > 0 else argc >= -arity


def expect(
    args: list[bytes],
    others: set[bytes],
    setstate_open: bool = True,
    grammar: argmodel.Grammar = argmodel.MODULE_0_1,
    setleases_open: bool = True,
) -> Expect:
    """`setstate_open`, `setleases_open`: whether this client may call RL.SETSTATE and
    RL.SETLEASES at all (a server may keep them for the replication link and the AOF)."""
    name = args[0].upper()
    if name in COMPANIONS:
        return Expect("companion", name)
    if name == b"RESTORE":
        return Expect("restore", name)
    if (name == b"RL.SETSTATE" and not setstate_open) or (
        name == b"RL.SETLEASES" and not setleases_open
    ):
        return Expect("refused", name)
    if not arity_ok(name, len(args)):
        return Expect("arity", name)
    try:
        if name in (b"RL.ACQUIRE", b"RL.RELEASE", b"RL.RENEW", b"RL.SETLEASES"):
            return expect_lease(name, args, others, grammar)
        if name in (b"RL.HIT", b"RL.PEEK"):
            limit = argmodel.hit_params(args[2:], grammar)
            if args[1] in others:
                return Expect("wrongtype", name)
            return Expect("decision", name, limit=limit, family=RATELIMIT, keys=(args[1],))
        if name == b"RL.MHIT":
            keys, limits = argmodel.mhit_params(args[1], args[2:], grammar)
            if any(k in others for k in keys):
                return Expect("wrongtype", name)
            return Expect("mhit", name, limits=tuple(limits), family=RATELIMIT, keys=tuple(keys))
        if name == b"CL.THROTTLE":
            if len(args) > 6:
                # The server's arity (-5) lets it through; the command itself refuses it.
                return Expect("error", name, error="ERR wrong number of arguments")
            limit = argmodel.throttle_params(args[2:], grammar)
            if args[1] in others:
                return Expect("wrongtype", name)
            return Expect("throttle", name, limit=limit, family=RATELIMIT, keys=(args[1],))
        state = states.decode(args[2])
        if state is None:
            return Expect("error", name, error=argmodel.E_STATE_PREFIX)
        other = args[1] in others
        if (
            state.version == states.VERSION
            and states.is_valid(state)
            and not states.is_empty(state)
        ):
            # What module 0.1 accepted, every later module must still load. (An empty state,
            # which 0.1 took as "delete the key", a later module may refuse.)
            if other:
                return Expect("wrongtype", name)
            return Expect("ok", name, family=RATELIMIT, keys=(args[1],))
        # Past 0.1's bounds, or in a later layout: a later module may read it.
        return Expect(
            "either",
            name,
            error=argmodel.E_STATE_PREFIX,
            wrongtype=other,
            family=RATELIMIT,
            keys=(args[1],),
        )
    except Refused as refused:
        return Expect("error", name, error=refused.message)


def expect_lease(
    name: bytes, args: list[bytes], others: set[bytes], grammar: argmodel.Grammar
) -> Expect:
    """The lease commands: arguments first (raising Refused), then the key's type."""
    key = args[1]
    request = None
    lease_id = b""
    if name == b"RL.ACQUIRE":
        request = argmodel.acquire_params(args[2:], grammar)
    elif name in (b"RL.RELEASE", b"RL.RENEW"):
        lease_id = argmodel.lease_id(args[2], "id")
        if name == b"RL.RENEW":
            argmodel.lease_duration(args[3])
    else:
        state = leases.decode(args[2])
        if state is None or leases.problem(state) is not None:
            raise Refused(argmodel.E_LEASES_PREFIX)
    if key in others:
        return Expect("wrongtype", name)
    kind = {b"RL.ACQUIRE": "acquire", b"RL.SETLEASES": "ok"}.get(name, "held")
    return Expect(kind, name, family=LEASES, keys=(key,), request=request, lease_id=lease_id)


def problem(
    reply: Reply, exp: Expect, context: str, types: keytypes.Types | None = None
) -> str | None:
    """Why `reply` is not an acceptable answer (None when it is). `context` is plain, multi,
    script or script_ro; `types` what the keys hold as the command runs."""
    if exp.kind == "restore":
        # A planted state is accepted, or refused as bad data, or for a key of another type.
        if isinstance(reply, Error) and not reply.text.startswith(("ERR", "BUSYKEY")):
            return f"RESTORE answered {reply.text!r}"
        return None
    if isinstance(reply, Error):
        general = replies.error_problem(reply)
        if general:
            return general
    if exp.kind == "refused":
        return None if isinstance(reply, Error) else f"expected a refusal, got {reply!r:.120}"
    if context == "script_ro" and exp.name in WRITES and exp.kind != "arity":
        if isinstance(reply, Error) and "not allowed from read-only scripts" in reply.text:
            return None
        return f"a write command in EVAL_RO was answered {reply!r:.120}"
    if exp.kind == "companion":
        # Any answer but an error, except for a key that does not exist.
        if isinstance(reply, Error) and "no such key" not in reply.text:
            return f"{exp.name.decode()} answered {reply.text!r}"
        return None
    if exp.kind == "arity":
        if isinstance(reply, Error) and reply.text.startswith("ERR") and "arg" in reply.text:
            return None
        return f"expected a wrong-arity error, got {reply!r:.160}"
    if exp.kind == "error":
        if isinstance(reply, Error) and reply.text.startswith(exp.error):
            return None
        return f"expected {exp.error!r}, got {reply!r:.160}"
    clash = types.clash(exp.keys, exp.family) if types is not None and exp.family else "no"
    if clash == "maybe" and reply == Error(WRONGTYPE):
        return None  # a key this batch cannot tell the kind of holds the other one
    if exp.kind == "either":
        # Accepted (OK; WRONGTYPE for a key of another type) or refused with `error`.
        wrong = exp.wrongtype or clash == "yes"
        accepted = Error(WRONGTYPE) if wrong else Status("OK")
        if reply == accepted or (isinstance(reply, Error) and reply.text.startswith(exp.error)):
            return None
        return f"expected {accepted!r} or {exp.error!r}, got {reply!r:.160}"
    if exp.kind == "wrongtype" or clash == "yes":
        if isinstance(reply, Error) and reply.text == WRONGTYPE:
            return None
        other = LEASES if exp.family == RATELIMIT else RATELIMIT
        held = f" (the key holds {other})"
        return f"expected WRONGTYPE{held if clash == 'yes' else ''}, got {reply!r:.160}"
    if isinstance(reply, Error):
        return f"a valid request was refused: {reply.text!r}"
    # Lua keeps numbers as doubles: integers past 2^53 come back rounded (2^63 - 1 even wraps
    # to -2^63). That is the server's conversion, not the module's answer.
    if (
        context.startswith("script")
        and isinstance(reply, list)
        and len(reply) in (5, 6)
        and any(isinstance(x, int) and abs(x) >= LUA_EXACT for x in reply)
    ):
        return None
    if exp.kind == "ok":
        return None if reply == Status("OK") else f"expected OK, got {reply!r:.120}"
    if exp.kind == "decision":
        return replies.decision_problem(reply, exp.limit, exp.name == b"RL.HIT")
    if exp.kind == "mhit":
        return replies.mhit_problem(reply, list(exp.limits))
    if exp.kind == "acquire":
        p = replies.acquire_problem(reply, exp.request)
        if p is None and types is not None and exp.request is not None:
            p = types.acquire_problem(exp.keys[0], exp.request, reply)
        return p
    if exp.kind == "held":
        p = replies.held_problem(reply)
        due = types.held_expected(exp.keys[0], exp.lease_id) if types is not None else None
        if p is None and due is not None and reply != due:
            verb = exp.name.decode()
            p = f"{verb} answered {reply!r}; the batch saw the lease {'' if due else 'not '}held"
        return p
    return replies.throttle_problem(reply, exp.limit)


def show(args: list[bytes], limit: int = 12) -> str:
    shown = [a[:40] for a in args[:limit]]
    more = f" ...(+{len(args) - limit})" if len(args) > limit else ""
    return " ".join(repr(a)[1:] for a in shown) + more


def getkeys_problem(args: list[bytes], reply: Reply, setstate_open: bool) -> str | None:
    """COMMAND GETKEYS runs the module's key extraction (RL.MHIT's getkeys-api, the key specs)
    on the fuzzed arguments: the keys, or an error when there are none to find."""
    name = args[0].upper()
    if name in PLUMBING and not setstate_open and isinstance(reply, Error):
        return None  # a command kept from clients may be hidden from them too
    expected: list[bytes] | None = [args[1]] if len(args) > 1 else None
    if not arity_ok(name, len(args)):
        expected = None
    elif name == b"RL.MHIT":
        n = argmodel.integer(args[1])
        if n is not None and n >= 1 << 31:
            # Redis 7.0 truncates a key spec's count to an int (2^53 + 1 finds one key); the
            # module refuses such a numkeys itself, so no key is touched either way.
            return None
        expected = args[2 : 2 + n] if n is not None and 1 <= n <= len(args) - 2 else None
    if expected is None:
        if isinstance(reply, Error) and reply.text.startswith("ERR"):
            return None
        return f"COMMAND GETKEYS found keys where there are none: {reply!r:.120}"
    if reply != expected:
        return f"COMMAND GETKEYS answered {reply!r:.160}, the keys are {expected!r:.160}"
    return None


class Unit:
    """One element of a batch: a plain command, a MULTI/EXEC block, a script call, COMMAND
    GETKEYS of a command, or a command sent by a user whose ACL allows only some keys."""

    def __init__(self, context: str, commands: list[list[bytes]], expects: list[Expect]) -> None:
        self.context = context
        self.commands = commands
        self.expects = expects

    def wire(self) -> list[list[bytes]]:
        if self.context in ("plain", "acl"):
            return self.commands
        if self.context == "getkeys":
            return [[b"COMMAND", b"GETKEYS", *self.commands[0]]]
        if self.context == "multi":
            return [[b"MULTI"], *self.commands, [b"EXEC"]]
        args = self.commands[0]
        verb = b"EVAL_RO" if self.context == "script_ro" else b"EVAL"
        if len(args) >= 2 and args[1].startswith(b"rl:"):
            return [[verb, SCRIPT_WITH_KEY.encode(), b"1", args[1], args[0], *args[2:]]]
        return [[verb, SCRIPT.encode(), b"0", *args]]

    def check(self, answers: list[Reply], types: keytypes.Types) -> list[tuple[list[bytes], str]]:
        """(command, problem) for every reply that is wrong; `types` follows what each command
        that ran did to its keys."""
        out = []
        if self.context == "getkeys":
            p = getkeys_problem(self.commands[0], answers[0], self.expects[0].kind != "refused")
            return [(self.commands[0], p)] if p else []
        if self.context == "acl":
            # Keys outside the user's patterns are refused before the module runs.
            reply = answers[0]
            if isinstance(reply, Error) and reply.code == "NOPERM":
                return []
            p = problem(reply, self.expects[0], "plain", types)
            types.apply(self.commands[0], reply)
            return [(self.commands[0], p)] if p else []
        if self.context in ("plain", "script", "script_ro"):
            for args, exp, reply in zip(self.commands, self.expects, answers, strict=False):
                p = problem(reply, exp, self.context, types)
                types.apply(args, reply)
                if p:
                    out.append((args, p))
            return out
        if answers[0] != Status("OK"):
            out.append(([b"MULTI"], f"MULTI answered {answers[0]!r}"))
        # Errors found while queueing (arity, a command refused outright) abort the EXEC.
        aborted = False
        for args, exp, reply in zip(self.commands, self.expects, answers[1:-1], strict=False):
            if exp.kind == "arity" or (exp.kind == "refused" and reply != Status("QUEUED")):
                p = problem(reply, exp, "multi")
                aborted = True
            elif reply != Status("QUEUED"):
                p = f"expected QUEUED, got {reply!r:.120}"
            else:
                p = None
            if p:
                out.append((args, p))
        exec_reply = answers[-1]
        if aborted:
            if not (isinstance(exec_reply, Error) and exec_reply.code == "EXECABORT"):
                out.append(([b"EXEC"], f"expected EXECABORT, got {exec_reply!r:.120}"))
        elif not isinstance(exec_reply, list) or len(exec_reply) != len(self.commands):
            out.append(([b"EXEC"], f"EXEC answered {exec_reply!r:.160}"))
        else:
            for args, exp, reply in zip(self.commands, self.expects, exec_reply, strict=False):
                p = problem(reply, exp, "multi", types)
                types.apply(args, reply)
                if p:
                    out.append((args, p))
        return out


def setstate_open(conn: Connection, key: bytes, now_us: int) -> bool:
    """Whether this connection may forge a state at all (a server may keep RL.SETSTATE for
    the replication link and the AOF). A state that lapsed in 1970 stores nothing."""
    lapsed = states.State(states.FIXED, (1_000, 0, 1)).encode()
    return conn.call("RL.SETSTATE", key, lapsed) == Status("OK")


def setleases_open(conn: Connection, key: bytes) -> bool:
    """The same for RL.SETLEASES: leases that expired in 1970 store nothing."""
    lapsed = leases.Leases(1, 0, (leases.Lease(b"x", 1_000, 1),)).encode()
    return conn.call("RL.SETLEASES", key, lapsed) == Status("OK")


class Round:
    def __init__(
        self, server: servers.Server, seed: int, cfg: harness.Config, rep: ServerReport
    ) -> None:
        self.server = server
        self.seed = seed
        self.cfg = cfg
        self.rep = rep
        self.rng = random.Random(seed)
        self.grammar = harness.grammar(server)
        self.gen = fuzzgen.Generator(
            self.rng, algos=self.grammar.algorithms, lease_max_held=self.grammar.lease_max_held
        )
        self.others = set(self.gen.others)
        self.types = keytypes.Types(ids=self.gen.granted)
        self.history: dict[bytes, deque[str]] = {}
        self.now_us = harness.EPOCH_US + self.rng.randrange(10**12) // 1000 * 1000
        self.expected_others: dict[bytes, tuple[bytes, int]] = {}
        self.resp3 = False
        self.setstate_open = True
        self.limited_setstate_open = True
        self.setleases_open = True
        self.limited_setleases_open = True
        self.rdb_version = 0
        self.batch = 0

    def where(self) -> str:
        return f"seed={self.seed} batch={self.batch}"

    def fail(self, check: str, detail: str) -> None:
        self.rep.fail(PROBE, check, f"{detail} [{self.where()}]")

    def remember(self, args: list[bytes]) -> None:
        keys: list[bytes] = []
        name = args[0].upper()
        if name == b"RL.MHIT" and len(args) > 2:
            n = argmodel.integer(args[1]) or 0
            keys = args[2 : 2 + min(n, 64)]
        elif len(args) > 1:
            keys = [args[1]]
        for key in keys:
            self.history.setdefault(key, deque(maxlen=12)).append(
                f"@{self.now_us} {show(args, 16)}"
            )

    def key_history(self, key: bytes) -> str:
        return " ; ".join(self.history.get(key, []))

    # Set-up ------------------------------------------------------------------------------

    def setup(self) -> Connection:
        harness.freeze(self.server, self.now_us)
        conn = harness.connect(self.server)
        conn.call("FLUSHALL")
        now_ms = self.now_us // 1000
        setup: list[list[Arg]] = []
        for key, kind in self.gen.others.items():
            setup.append([*CREATE[kind][:1], key, *CREATE[kind][1:]])
            if key.endswith(b":ttl"):
                setup.append(["PEXPIREAT", key, now_ms + 1000 * 86_400_000])
        conn.pipeline(setup)
        for key in self.gen.others:
            d, t = conn.pipeline([["DUMP", key], ["PEXPIRETIME", key]])
            assert isinstance(d, bytes) and isinstance(t, int)
            self.expected_others[key] = (d, t)
        self.setstate_open = setstate_open(conn, b"soak:probe", self.now_us)
        if self.grammar.lease_max_held is not None:
            self.setleases_open = setleases_open(conn, b"soak:probe")
        sample = conn.pipeline([["RL.HIT", b"soak:probe", 1, 1], ["DUMP", b"soak:probe"]])[1]
        assert isinstance(sample, bytes), sample
        self.rdb_version = dump.parse(sample).rdb_version
        conn.call("DEL", b"soak:probe")
        self.resp3 = self.rng.random() < 0.25
        if self.resp3:
            conn.call("HELLO", "3")
        return conn

    def limited_connection(self) -> Connection:
        """A user allowed every command, but only keys named rl:* and {t}*."""
        user = ["ACL", "SETUSER", "fuzzer", "reset", "on", ">pw", "~rl:*", "~{t}*", "+@all"]
        conn = harness.connect(self.server)
        answers = conn.pipeline([user, ["AUTH", "fuzzer", "pw"]])
        assert answers == [Status("OK"), Status("OK")], answers
        if self.resp3:
            conn.call("HELLO", "3")
        self.limited_setstate_open = setstate_open(conn, b"rl:probe", self.now_us)
        if self.grammar.lease_max_held is not None:
            self.limited_setleases_open = setleases_open(conn, b"rl:probe")
        return conn

    # Batches -----------------------------------------------------------------------------

    def planting(self, cmd: list[bytes], limited: bool = False) -> list[bytes]:
        """Where this client may not forge a state with RL.SETSTATE or leases with
        RL.SETLEASES, the same bytes are planted with RESTORE, which any client may run, so
        that every state still gets tried."""
        name = cmd[0].upper()
        if name == b"RL.SETSTATE":
            open_ = self.limited_setstate_open if limited else self.setstate_open
            mid = dump.module_id()
        elif name == b"RL.SETLEASES":
            open_ = self.limited_setleases_open if limited else self.setleases_open
            mid = dump.module_id(dump.LEASES_TYPE_NAME)
        else:
            return cmd
        if open_ or len(cmd) != 3:
            return cmd
        key = cmd[1]
        replace = [] if key in self.others else [b"REPLACE"]
        return [b"RESTORE", key, b"0", dump.build(cmd[2], self.rdb_version, mid=mid), *replace]

    def expect(self, cmd: list[bytes], limited: bool = False) -> Expect:
        if limited:
            return expect(
                cmd,
                self.others,
                self.limited_setstate_open,
                self.grammar,
                self.limited_setleases_open,
            )
        return expect(cmd, self.others, self.setstate_open, self.grammar, self.setleases_open)

    def unit(self) -> Unit:
        roll = self.rng.random()
        if roll < 0.08:
            cmds = [
                self.planting(fuzzgen.to_bytes(self.gen.command()))
                for _ in range(self.rng.randint(1, 6))
            ]
            return Unit("multi", cmds, [self.expect(c) for c in cmds])
        cmd = fuzzgen.to_bytes(self.gen.command())
        context = "plain"
        if roll < 0.15:
            context = "script_ro" if self.rng.random() < 0.1 else "script"
        elif roll < 0.18:
            context = "getkeys"
        elif roll < 0.23:
            context = "acl"
        if context != "getkeys":
            cmd = self.planting(cmd, context == "acl")
        exp = self.expect(cmd, context == "acl")
        if context.startswith("script") and exp.kind == "arity":
            context = "plain"  # the script's own arity message is checked in plain form
        if exp.kind == "companion" and context not in ("plain", "acl"):
            context = "plain"  # DEBUG is refused in scripts; GETKEYS is about RL commands
        return Unit(context, [cmd], [exp])

    def run_batch(self, conn: Connection, limited: Connection) -> int:
        self.gen.now_us = self.now_us
        units: list[Unit] = []
        sent = 0
        while sent < self.cfg.batch_commands:
            unit = self.unit()
            units.append(unit)
            sent += len(unit.commands)
        # The limited user's commands go on its own connection, after the batch.
        for group, via in (
            ([u for u in units if u.context != "acl"], conn),
            ([u for u in units if u.context == "acl"], limited),
        ):
            answers = via.pipeline([cmd for u in group for cmd in u.wire()])
            pos = 0
            for u in group:
                n = len(u.wire())
                for args in u.commands:
                    self.remember(args)
                for args, p in u.check(answers[pos : pos + n], self.types):
                    self.fail(f"reply ({u.context})", f"{show(args)} -> {p}")
                pos += n
        return sent

    def move_clock(self) -> None:
        step = self.rng.choice(CLOCK_MOVES_US)
        if step:
            self.now_us += step
            harness.freeze(self.server, self.now_us)

    # Invariants --------------------------------------------------------------------------

    def check_keys(self, conn: Connection) -> None:
        pong = conn.call("PING")
        if pong not in (Status("PONG"), b"PONG"):
            self.fail("ping", f"PING answered {pong!r}")
        all_keys = conn.call("KEYS", "*")
        assert isinstance(all_keys, list)
        keys = [k for k in all_keys if isinstance(k, bytes)]
        commands: list[list[Arg]] = []
        for k in keys:
            commands += [["TYPE", k], ["PTTL", k], ["DUMP", k], ["PEXPIRETIME", k]]
        info = conn.pipeline(commands)
        present = set()
        found: dict[bytes, tuple[str, int]] = {}
        held: dict[bytes, dict[bytes, int]] = {}
        for i, key in enumerate(keys):
            kind, pttl, payload, at = info[4 * i : 4 * i + 4]
            kind_name = kind.text if isinstance(kind, Status) else kind
            present.add(key)
            if isinstance(kind_name, str) and isinstance(pttl, int):
                found[key] = (kind_name, pttl)
            if key in self.expected_others:
                if (payload, at) != self.expected_others[key]:
                    self.fail(
                        "other types untouched",
                        f"{key!r} changed: now {kind_name!r} PEXPIRETIME {at!r}",
                    )
                continue
            if kind_name == "none":
                continue  # it expired between KEYS and TYPE
            if kind_name not in (RATELIMIT, LEASES):
                self.fail("stray key", f"{key!r} of type {kind_name!r} appeared")
                continue
            if not isinstance(pttl, int) or pttl < 0:
                self.fail(
                    "ttl",
                    f"{kind_name} key {key!r} has PTTL {pttl!r}; history: {self.key_history(key)}",
                )
            if isinstance(payload, bytes):
                self.check_dump(conn, key, payload)
                if kind_name == LEASES:
                    state = self.check_leases(key, payload, at)
                    seen = keytypes.held_at(state, self.now_us) if state else None
                    if seen is not None:
                        held[key] = seen
        for key in self.expected_others:
            if key not in present:
                self.fail("other types untouched", f"{key!r} disappeared")
        others = set(self.expected_others)
        self.types.seed({k: v for k, v in found.items() if k not in others}, held)

    def check_leases(self, key: bytes, payload: bytes, expire_at: Reply) -> leases.Leases | None:
        """A key of leases holds a state the module's own rule accepts, and expires when its
        last lease does."""
        try:
            state = leases.decode(dump.parse(payload).state)
        except (ValueError, IndexError, KeyError) as e:
            self.fail("leases", f"{key!r}: unparseable DUMP {payload.hex()} ({e})")
            return None
        why = "not in the leases layout" if state is None else leases.problem(state)
        if state is None or why is not None:
            self.fail(
                "leases",
                f"{key!r} holds leases the decoder refuses ({why}): {payload.hex()}; "
                f"history: {self.key_history(key)}",
            )
            return None
        due = -(-state.last_expiry_us // 1000)
        if expire_at != due:
            self.fail(
                "leases expire with the last",
                f"{key!r}: PEXPIRETIME {expire_at!r}, its last lease expires at {due} ms "
                f"({state.describe()}); history: {self.key_history(key)}",
            )
        return state

    def check_dump(self, conn: Connection, key: bytes, payload: bytes) -> None:
        try:
            state = states.decode(dump.parse(payload).state)
        except (ValueError, IndexError, KeyError) as e:
            self.fail("dump", f"{key!r}: unparseable DUMP {payload.hex()} ({e})")
            return
        described = state.describe() if state else describe_leases(payload)
        restored = conn.pipeline(
            [["RESTORE", b"soak:roundtrip", 0, payload, "REPLACE"], ["DEL", b"soak:roundtrip"]]
        )
        if restored[0] != Status("OK"):
            self.fail(
                "own DUMP restores",
                f"RESTORE of {key!r}'s own DUMP {payload.hex()} "
                f"({described}) answered {restored[0]!r}; history: "
                f"{self.key_history(key)}",
            )

    def check_reload(self, conn: Connection) -> None:
        harness.drop_expired(conn)
        before = conn.pipeline([["DBSIZE"], ["DEBUG", "DIGEST"]])
        reloaded = conn.call("DEBUG", "RELOAD")
        after = conn.pipeline([["DBSIZE"], ["DEBUG", "DIGEST"]])
        if reloaded != Status("OK"):
            self.fail("DEBUG RELOAD", f"answered {reloaded!r}; keys {before[0]!r} -> {after[0]!r}")
            return
        if before[0] != after[0]:
            self.fail("DEBUG RELOAD", f"key count {before[0]!r} -> {after[0]!r}")
        if before[1] != after[1]:
            self.fail("DEBUG RELOAD", f"DEBUG DIGEST {before[1]!r} -> {after[1]!r}")

    def run(self) -> int:
        """Runs the round; returns the commands sent. Raises ConnectionLost on a crash."""
        conn = self.setup()
        limited = self.limited_connection()
        total = 0
        try:
            batches = max(1, self.cfg.round_commands // self.cfg.batch_commands)
            for self.batch in range(batches):
                total += self.run_batch(conn, limited)
                self.move_clock()
                self.check_keys(conn)
            self.batch = batches
            self.check_reload(conn)
        finally:
            self.rep.add("commands_fuzzed", total)
            conn.close()
            limited.close()
        return total


def describe_leases(payload: bytes) -> str:
    try:
        state = leases.decode(dump.parse(payload).state)
    except (ValueError, IndexError, KeyError):
        return "?"
    return state.describe() if state else "?"


def check_acl(server: servers.Server, rep: ServerReport) -> None:
    """A user who may only rate-limit must not forge a state (RL.SETSTATE)."""
    client = server.client()
    try:
        client.execute_command("ACL", "SETUSER", "limiter", "on", ">pw", "+@ratelimit", "~*")
    except Exception as e:
        log(f"    acl: no @ratelimit category here ({e}); skipped")
        return
    conn = harness.connect(server)
    try:
        state = states.State(states.FIXED, (60_000_000, harness.EPOCH_US, 0)).encode()
        answers = conn.pipeline(
            [
                ["AUTH", "limiter", "pw"],
                ["RL.HIT", "acl:k", "5", "60"],
                ["RL.SETSTATE", "acl:k", state],
            ]
        )
    finally:
        conn.close()
    if not isinstance(answers[1], list):
        rep.fail(PROBE, "acl", f"a +@ratelimit user cannot RL.HIT: {answers[1]!r}")
    if not isinstance(answers[2], Error):
        rep.fail(PROBE, "acl", f"a +@ratelimit user ran RL.SETSTATE: {answers[2]!r}")


def run(kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
    seeds = [cfg.seed] if cfg.one_seed else [cfg.seed + i for i in range(cfg.fuzz_rounds)]
    log(f"  fuzz: rounds with seeds {seeds[0]}..{seeds[-1]}, {cfg.round_commands} commands each")
    server = harness.start(kind, clock=True)
    try:
        check_acl(server, rep)
        for seed in seeds:
            try:
                Round(server, seed, cfg, rep).run()
            except (ConnectionLost, ConnectionError, OSError) as e:
                if server.alive():
                    rep.fail(PROBE, "connection", f"seed={seed}: connection lost ({e}), server up")
                else:
                    rep.add("crashes")
                    rep.fail(
                        PROBE, "crash", f"seed={seed}: the server died: {harness.log_tail(server)}"
                    )
                server.stop()
                server = harness.start(kind, clock=True)
    finally:
        server.stop()
