"""Probe 2: crafted RESTORE payloads (payloads.py), of rate limiter states (ALGO LOG's logs
included) and of leases.

Each payload must be refused with an error, or accepted into a state that
  (a) RL.PEEK and RL.HIT can use (well-formed replies, with the state's own parameters and
      with others: a larger BURST, another algorithm, ALGO LOG), or for leases RL.ACQUIRE,
      RL.RENEW and RL.RELEASE (well-formed replies; a lease renewed is held, one released
      is not),
  (b) DUMPs and RESTOREs again, before and after those hits, to the same bytes,
  (c) survives DEBUG RELOAD (with the key count kept),
  (d) has a TTL, also when restored with TTL 0,
and the server stays up. Every accepted payload that fails one of them is reported with its
hex. And (e): a payload holding a state module 0.1 accepted, framed as an RDB file frames it,
must be accepted: an RDB file written by 0.1 must load after an upgrade.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field

import argmodel
import dump
import harness
import keytypes
import leases
import payloads
import replies
import servers
import states
from payloads import Payload
from report import ServerReport, log
from resp import Connection, ConnectionLost, Error, Reply, Status

PROBE = "restore"
BATCH = 50


def base_keys(algos: tuple[str, ...]) -> list[tuple[str, list[list[str | bytes]]]]:
    """Commands that leave a key in each algorithm and state worth dumping."""
    out: list[tuple[str, list[list[str | bytes]]]] = []
    for a in algos:
        out.append((f"{a} one hit", [["RL.HIT", "k", "5", "60", "ALGO", a]]))
        out.append((f"{a} full", [["RL.HIT", "k", "3", "60", "ALGO", a, "COST", "3"]]))
        out.append(
            (
                f"{a} large",
                [["RL.HIT", "k", "9000000000", "36500d", "ALGO", a, "COST", "123456789"]],
            )
        )
        out.append((f"{a} sub-ms rate", [["RL.HIT", "k", "3", "1", "ALGO", a]]))
    out.append(
        ("TOKEN burst", [["RL.HIT", "k", "10", "1h", "ALGO", "TOKEN", "BURST", "40", "COST", "7"]])
    )
    out.append(("CL.THROTTLE", [["CL.THROTTLE", "k", "15", "30", "60", "4"]]))
    if "LOG" in algos:
        out.append(("LOG of a minute", [["RL.HIT", "k", "50", "1m", "ALGO", "LOG", "COST", "7"]]))
    return out


def lease_keys() -> list[tuple[str, list[list[str | bytes]]]]:
    """Commands that leave a key of leases worth dumping."""
    return [
        ("one lease", [["RL.ACQUIRE", "k", "3", "30s"]]),
        (
            "leases of every id length",
            [
                ["RL.ACQUIRE", "k", "10", "1h", "ID", b"\x00"],
                ["RL.ACQUIRE", "k", "10", "1d", "ID", b"\xff" * 64, "COST", "3"],
                ["RL.ACQUIRE", "k", "10", "1ms", "COST", "2"],
                ["RL.ACQUIRE", "k", "10", "36500d", "ID", "job-1", "COST", "4"],
            ],
        ),
        ("a full key", [["RL.ACQUIRE", "k", "1000000", "10m", "COST", "1000000"]]),
    ]


def edge_states(now_us: int) -> list[states.State]:
    """States at the edges of what the decoder accepts."""
    return [
        states.State(states.BUCKET, (60_000_000, 5, 1, states.MAX_INSTANT + states.MAX_WINDOW, 0)),
        states.State(
            states.SLIDING,
            (states.MAX_WINDOW, states.MAX_INSTANT, states.MAX_LIMIT, states.MAX_LIMIT),
        ),
        states.State(states.FIXED, (1_000, now_us, states.MAX_LIMIT)),
        states.State(
            states.BUCKET,
            (1_000, states.MAX_LIMIT, states.MAX_LIMIT, now_us + 10**6, states.MAX_LIMIT - 1),
        ),
    ]


def plant(conn: Connection, key: bytes | str, state: states.State | states.LogState) -> bool:
    """Stores `state` at `key` through RESTORE (which any client may run, unlike RL.SETSTATE),
    sealed for this server's RDB version (read from a DUMP of the key itself, so that in a
    cluster it stays on the key's node). True when the server accepted it."""
    sample = conn.pipeline([["DEL", key], ["RL.HIT", key, "1", "1"], ["DUMP", key]])[2]
    assert isinstance(sample, bytes), sample
    payload = dump.build(state.encode(), dump.parse(sample).rdb_version)
    return conn.call("RESTORE", key, 0, payload, "REPLACE") == Status("OK")


def real_dumps(
    conn: Connection,
    now_us: int,
    algos: tuple[str, ...] = argmodel.ALGORITHMS,
    with_leases: bool = False,
) -> list[Payload]:
    """The server's own DUMPs of keys left by real commands, and of planted edge states
    (logs of many entries among them, when the module has ALGO LOG)."""
    found = []
    keys = base_keys(algos) + (lease_keys() if with_leases else [])
    for label, commands in keys:
        conn.call("DEL", "k")
        conn.pipeline(commands)
        data = conn.call("DUMP", "k")
        if isinstance(data, bytes):
            found.append(Payload(label, data))
    for state in edge_states(now_us):
        if plant(conn, "k", state):
            data = conn.call("DUMP", "k")
            if isinstance(data, bytes):
                found.append(Payload(f"planted {state.describe()}", data))
    if "LOG" in algos:
        rng = random.Random(now_us)
        for _ in range(6):
            log_state = states.random_log(rng, now_us)
            if plant(conn, "k", log_state):
                data = conn.call("DUMP", "k")
                if isinstance(data, bytes):
                    found.append(Payload(f"planted {log_state.describe()}", data))
    if with_leases:
        rng = random.Random(now_us + 1)
        for _ in range(6):
            lease_state = leases.random_valid(rng, now_us)
            if plant_leases(conn, "k", lease_state):
                data = conn.call("DUMP", "k")
                if isinstance(data, bytes):
                    found.append(Payload(f"planted {lease_state.describe()}", data))
    conn.call("DEL", "k")
    return found


def plant_leases(conn: Connection, key: bytes | str, state: leases.Leases) -> bool:
    """`plant` for leases: RESTORE with the rl-leases type's id."""
    sample = conn.pipeline([["DEL", key], ["RL.HIT", key, "1", "1"], ["DUMP", key]])[2]
    assert isinstance(sample, bytes), sample
    mid = dump.module_id(dump.LEASES_TYPE_NAME)
    payload = dump.build(state.encode(), dump.parse(sample).rdb_version, mid=mid)
    return conn.call("RESTORE", key, 0, payload, "REPLACE") == Status("OK")


def requests_for(state: states.State | None, log: states.LogState | None) -> list[list[str]]:
    """RL.HIT arguments (after the key) that read the state as it is, and some that reshape
    it or raise its capacity."""
    if log is not None and log.window_us % 1000 == 0 and log.window_us >= states.MIN_WINDOW:
        window = f"{min(log.window_us, states.MAX_WINDOW) // 1000}ms"
        return [
            [str(max(1, min(log.count, 10_000))), window, "ALGO", "LOG"],
            ["10000", window, "ALGO", "LOG", "COST", "3"],
            ["1", window, "ALGO", "LOG"],
            ["5", "60", "ALGO", "GCRA"],
        ]
    if state is None:
        return [["5", "60"], ["5", "60", "ALGO", "GCRA", "BURST", "9"]]
    w = state.get("window")
    window = (
        f"{w // 1000}ms" if w % 1000 == 0 and states.MIN_WINDOW <= w <= states.MAX_WINDOW else "60"
    )
    if state.kind == states.SLIDING:
        used = min(states.MAX_LIMIT, max(1, state.get("current") + state.get("previous")))
        return [[str(used), window], ["1", window, "COST", "1"], ["5", window, "ALGO", "GCRA"]]
    if state.kind == states.FIXED:
        used = min(states.MAX_LIMIT, max(1, state.get("count")))
        return [[str(used), window, "ALGO", "FIXED"], ["7", window, "ALGO", "FIXED"], ["5", "60"]]
    limit = min(states.MAX_LIMIT, max(1, state.get("limit")))
    burst = min(states.MAX_LIMIT, max(1, state.get("burst")))
    out = [[str(limit), window, "ALGO", "GCRA", "BURST", str(burst)]]
    for bigger in (burst + 1, burst * 2, limit * states.MAX_WINDOW // max(1, w)):
        out.append(
            [
                str(limit),
                window,
                "ALGO",
                "TOKEN",
                "BURST",
                str(min(states.MAX_LIMIT, max(1, bigger))),
            ]
        )
    out.append([str(limit), window, "ALGO", "SLIDING"])
    return out


@dataclass
class Accepted:
    key: bytes
    payload: Payload
    restore: list[str | int]
    # The commands run on it since, each without its key.
    hits: list[list[str | bytes]] = field(default_factory=list)

    def replay(self) -> list[list[str | bytes]]:
        return [[verb, self.key, *rest] for verb, *rest in self.hits]

    def shown(self) -> str:
        return " / ".join(" ".join(str(a) for a in h) for h in self.hits)


class Probe:
    def __init__(self, kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
        self.kind = kind
        self.cfg = cfg
        self.rep = rep
        self.rng = random.Random(cfg.seed * 7919 + 2)
        self.rdb_version = 0
        self.server = harness.start(kind, clock=True)
        harness.freeze(self.server, harness.EPOCH_US)
        self.grammar = harness.grammar(self.server)

    def fail(self, check: str, acc: Accepted, detail: str) -> None:
        restore = " ".join(str(a) for a in acc.restore)
        self.rep.fail(
            PROBE,
            check,
            f"{acc.payload.label}; RESTORE k {restore} {acc.payload.data.hex()}: {detail}",
        )

    def ttl_argument(self) -> list[str | int]:
        roll = self.rng.random()
        if roll < 0.7:
            return [0]
        if roll < 0.9:
            return [60_000]
        return [harness.EPOCH_US // 1000 + self.rng.choice((-5_000, 60_000)), "ABSTTL"]

    def restore_batch(self, conn: Connection, batch: list[Payload]) -> list[Accepted]:
        accepted = []
        commands: list[list[str | bytes | int]] = []
        candidates = []
        for i, p in enumerate(batch):
            key = f"p:{i}".encode()
            ttl = self.ttl_argument()
            candidates.append(Accepted(key, p, ttl))
            commands.append(["RESTORE", key, ttl[0], p.data, *ttl[1:]])
        answers = conn.pipeline(commands)
        for acc, answer in zip(candidates, answers, strict=False):
            if answer == Status("OK"):
                accepted.append(acc)
                continue
            if not isinstance(answer, Error) or replies.error_problem(answer):
                self.fail("refusal", acc, f"answered {answer!r}")
            elif self.written_by_0_1(acc.payload):
                self.fail("(e) what 0.1 wrote still loads", acc, f"answered {answer!r}")
        return accepted

    def written_by_0_1(self, p: Payload) -> bool:
        """Whether the payload is one module 0.1 wrote, or could have: its state in 0.1's
        layout and bounds, framed as an RDB file frames it. An RDB file holding it must load
        with every later module, or the server does not start after an upgrade."""
        if len(p.data) < 12 or dump.unseal(p.data)[1] != self.rdb_version:
            return False
        raw = dump.canonical_state(p.data)
        state = states.decode(raw) if raw is not None else None
        return state is not None and state.version == 1 and states.is_valid(state)

    def check_roundtrip(self, conn: Connection, acc: Accepted, when: str) -> None:
        data, pttl = conn.pipeline([["DUMP", acc.key], ["PTTL", acc.key]])
        if data is None:
            return  # gone: a lapsed state, or one restored with a past ABSTTL
        if not isinstance(data, bytes):
            self.fail("(b) DUMP", acc, f"DUMP {when} answered {data!r}")
            return
        # With the key's own TTL, as a migration carries it (a key restored with TTL 0 may
        # take its state's expiry, which for a lapsed state is already past).
        ttl = pttl if isinstance(pttl, int) and pttl > 0 else 0
        back = conn.pipeline(
            [["RESTORE", b"p:copy", ttl, data, "REPLACE"], ["DUMP", b"p:copy"], ["DEL", b"p:copy"]]
        )
        if back[0] != Status("OK"):
            self.fail(
                "(b) DUMP then RESTORE",
                acc,
                f"its DUMP {when} ({describe(data)}), {data.hex()}, answered {back[0]!r}",
            )
        elif back[1] != data:
            self.fail(
                "(b) DUMP then RESTORE", acc, f"DUMP {when} {data.hex()} came back as {back[1]!r}"
            )

    def check_use(self, conn: Connection, acc: Accepted) -> None:
        pttl = conn.call("PTTL", acc.key)
        if pttl == -1:
            self.fail("(d) TTL", acc, f"no TTL after RESTORE ({describe_key(conn, acc.key)})")
        self.check_roundtrip(conn, acc, "as restored")
        state = log_state = None
        with contextlib.suppress(ValueError, IndexError, KeyError):
            raw = dump.parse(acc.payload.data).state
            state = states.decode(raw)
            log_state = states.decode_log(raw)
        if conn.call("TYPE", acc.key) == Status("rl-leases"):
            self.check_leases_use(conn, acc)
            return
        requests = requests_for(state, log_state)
        if self.rng.random() < 0.5:
            # Without the last request, which reshapes the state into another algorithm's,
            # so that DEBUG RELOAD meets the states the others left.
            requests = requests[:-1]
        for args in requests:
            try:
                encoded = [a.encode() for a in args]
                limit: argmodel.Limit | None = argmodel.hit_params(encoded, self.grammar)
            except argmodel.Refused:
                continue
            acc.hits.append(["RL.HIT", *args])
            answers = conn.pipeline([["RL.PEEK", acc.key, *args], ["RL.HIT", acc.key, *args]])
            for verb, answer in zip(("RL.PEEK", "RL.HIT"), answers, strict=False):
                p = replies.decision_problem(answer, limit, verb == "RL.HIT")
                if isinstance(answer, Error):
                    p = f"refused: {answer.text}"
                if p:
                    self.fail("(a) usable", acc, f"{verb} k {' '.join(args)} -> {p}")
            # Each hit may store a new state: every one of them must load again.
            self.check_roundtrip(conn, acc, "after " + acc.shown())

    def check_leases_use(self, conn: Connection, acc: Accepted) -> None:
        """Leases restored: RL.ACQUIRE under their own limit and a larger one answers as the
        README says, a lease renewed is held, one released is not (and releasing it again
        answers 0); every state these leave DUMPs and RESTOREs."""
        data = conn.call("DUMP", acc.key)
        state = None
        if isinstance(data, bytes):
            with contextlib.suppress(ValueError, IndexError, KeyError):
                state = leases.decode(dump.parse(data).state)
        limit = max(1, min(state.limit if state else 3, self.grammar.lease_max_held or 1))
        ids = [lease.id for lease in state.leases] if state else []
        # What the module holds at the frozen clock (None: a lease about to expire).
        held = keytypes.held_at(state, harness.EPOCH_US) if state else None
        steps: list[tuple[list[str | bytes], str]] = [
            (["RL.ACQUIRE", str(limit), "1h"], "acquire"),
            (["RL.ACQUIRE", str(self.grammar.lease_max_held or 1), "1m", "COST", "2"], "acquire"),
        ]
        if ids:
            steps += [
                (["RL.RENEW", ids[-1], "2h"], "renew"),
                (["RL.RELEASE", ids[0]], "release"),
                (["RL.RELEASE", ids[0]], "released"),
            ]
        for command, what in steps:
            acc.hits.append(command)
            reply = conn.call(command[0], acc.key, *command[1:])
            if what == "acquire":
                request = argmodel.acquire_params(
                    [a.encode() if isinstance(a, str) else a for a in command[1:]], self.grammar
                )
                p = replies.acquire_problem(reply, request)
            else:
                p = replies.held_problem(reply)
                # A lease unexpired at the frozen clock is held, until it is released; one
                # released a moment ago is not.
                due = None if held is None else int(command[1] in held)
                if what == "released":
                    due = 0
                if p is None and due is not None and reply != due:
                    p = f"answered {reply!r}; the restored leases say {due}"
            if isinstance(reply, Error):
                p = f"refused: {reply.text}"
            if p:
                self.fail("(a) usable", acc, f"{' '.join(map(str, command))} -> {p}")
            self.check_roundtrip(conn, acc, "after " + acc.shown())

    def reload_ok(self, conn: Connection) -> tuple[bool, str]:
        harness.drop_expired(conn)
        before = conn.call("DBSIZE")
        answer = conn.call("DEBUG", "RELOAD")
        after = conn.call("DBSIZE")
        if answer != Status("OK"):
            return False, f"DEBUG RELOAD answered {answer!r}, keys {before!r} -> {after!r}"
        if before != after:
            return False, f"DEBUG RELOAD kept {after!r} of {before!r} keys"
        return True, ""

    def isolate_reload(self, conn: Connection, accepted: list[Accepted]) -> None:
        """The batch did not survive DEBUG RELOAD: which payloads did that?"""
        for acc in accepted:
            conn.call("FLUSHALL")
            conn.call("RESTORE", acc.key, acc.restore[0], acc.payload.data, *acc.restore[1:])
            conn.pipeline(acc.replay() or [["PING"]])
            data = conn.call("DUMP", acc.key)
            ok, why = self.reload_ok(conn)
            if not ok:
                shown = describe(data) if isinstance(data, bytes) else "gone"
                self.fail(
                    "(c) DEBUG RELOAD", acc, f"after {acc.shown()} the key holds {shown}: {why}"
                )

    def run(self) -> None:
        conn = harness.connect(self.server)
        bases = real_dumps(
            conn,
            harness.EPOCH_US,
            self.grammar.algorithms,
            with_leases=self.grammar.lease_max_held is not None,
        )
        self.rdb_version = dump.parse(bases[0].data).rdb_version
        log(
            f"  restore: {len(bases)} real DUMPs, {self.cfg.restore_payloads} payloads "
            f"(seed {self.cfg.seed * 7919 + 2})"
        )
        todo = bases + [
            payloads.mutate(self.rng.choice(bases), self.rng)
            for _ in range(self.cfg.restore_payloads - len(bases))
        ]
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            try:
                conn.call("FLUSHALL")
                accepted = self.restore_batch(conn, batch)
                self.rep.add("payloads_tried", len(batch))
                self.rep.add("payloads_accepted", len(accepted))
                for acc in accepted:
                    self.check_use(conn, acc)
                ok, _ = self.reload_ok(conn)
                if not ok:
                    self.isolate_reload(conn, accepted)
                if conn.call("PING") != Status("PONG"):
                    raise ConnectionLost([])
            except (ConnectionLost, OSError) as e:
                conn.close()
                if self.server.alive():
                    raise
                self.rep.add("crashes")
                hexes = " ".join(p.data.hex() for p in batch)
                self.rep.fail(
                    PROBE,
                    "crash",
                    f"the server died ({e}) in a batch of payloads "
                    f"{hexes}: {harness.log_tail(self.server)}",
                )
                self.server.stop()
                self.server = harness.start(self.kind, clock=True)
                harness.freeze(self.server, harness.EPOCH_US)
                conn = harness.connect(self.server)
        conn.close()


def describe(data: bytes) -> str:
    try:
        raw = dump.parse(data).state
    except (ValueError, IndexError, KeyError):
        return "an unparseable value"
    for shown in (states.decode(raw), states.decode_log(raw), leases.decode(raw)):
        if shown is not None:
            return shown.describe()
    return "an unknown state"


def describe_key(conn: Connection, key: bytes) -> str:
    data: Reply = conn.call("DUMP", key)
    return describe(data) if isinstance(data, bytes) else "no DUMP"


def run(kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
    probe = Probe(kind, cfg, rep)
    try:
        probe.run()
    finally:
        probe.server.stop()
