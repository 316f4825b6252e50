"""Probe 5: clock steps, and a failover to a host whose clock is behind or ahead.

Keys of every algorithm (10 per 60 s; the buckets with BURST 10, so they drain in 60 s), one
partly used and one full, are hit at an instant t0 on a frozen clock; the clock then steps
(back or forward: a minute, ten minutes, an hour, a day) and the keys are hit again until
admitted, the clock moved on by each retry_after. The promises checked (issue §2):
  - no capacity regained by a step back: the units in use after it are at least those in use
    at t0 (usage recorded later than now is never forgotten);
  - a request is denied at most the window (or the bucket's drain time) longer than the same
    history would cost without the step (after a step forward: exactly what it would cost);
  - retry_after_ms holds on the server's current clock: retrying after it is admitted;
  - reset_after_ms equals the key's PTTL after every hit (read in the same MULTI/EXEC);
  - usage is never counted twice: the units in use never exceed the units admitted.
The failover: a primary takes the hits at t0, its replica's clock is 10 minutes behind (then
ahead), the replica is promoted (REPLICAOF NO ONE) and takes the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import harness
import limits
import replies
import servers
from argmodel import Limit
from report import ServerReport, log
from resp import Connection

PROBE = "clock"
LIMIT = 10
WINDOW_MS = 60_000
BUCKETS = ("TOKEN", "LEAKY", "GCRA")
MAX_RETRIES = 25
SLACK_MS = 2


@dataclass
class Key:
    name: str
    algorithm: str
    admitted: int = 0
    # At t0, before the step: units in use and the wait a request of cost 1 gets.
    used0: int = 0
    wait0: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def args(self) -> list[str]:
        extra = ["BURST", str(LIMIT)] if self.algorithm in BUCKETS else []
        return [str(LIMIT), f"{WINDOW_MS}ms", "ALGO", self.algorithm, *extra]

    @property
    def limit(self) -> Limit:
        return Limit(self.algorithm, LIMIT, WINDOW_MS * 1000, LIMIT, 1)


def peek(conn: Connection, key: Key) -> list[int]:
    answer = replies.ints(conn.call("RL.PEEK", key.name, *key.args), 5)
    assert not isinstance(answer, str), answer
    return answer


def used(reply: list[int]) -> int:
    u = limits.used(reply)
    assert u is not None
    return u


class Clocked:
    """A server with a frozen clock the probe moves, and its connection."""

    def __init__(self, server: servers.Server, now_us: int, tolerance_ms: int) -> None:
        """`tolerance_ms` is 1 on Valkey, whose frozen clock runs up to a millisecond ahead
        of the instant set (within an event-loop turn), by a different amount for each
        command: reset_after_ms and PTTL may differ by 1 ms, and a wait told by one command
        is waited 1 ms longer, so that the next command's instant is surely past it."""
        self.server = server
        self.now_us = now_us
        self.tolerance_ms = tolerance_ms
        harness.freeze(server, now_us)
        self.conn = harness.connect(server)

    def set(self, now_us: int) -> None:
        self.now_us = now_us
        harness.freeze(self.server, now_us)

    def close(self) -> None:
        self.conn.close()


class Scenario:
    def __init__(self, name: str, rep: ServerReport) -> None:
        self.name = name
        self.rep = rep

    def violation(self, check: str, key: Key, detail: str) -> None:
        self.rep.add("clock_violations")
        self.rep.fail(
            PROBE,
            check,
            f"{self.name}, {key.algorithm} key {key.name}: {detail}"
            f"{'; ' + ', '.join(key.notes) if key.notes else ''}",
        )

    def hit(self, c: Clocked, key: Key) -> list[int] | None:
        """One RL.HIT and the key's PTTL, in one transaction (one instant)."""
        answers = c.conn.pipeline(
            [["MULTI"], ["RL.HIT", key.name, *key.args], ["PTTL", key.name], ["EXEC"]]
        )
        result = answers[-1]
        assert isinstance(result, list), result
        reply, pttl = result
        problem = replies.decision_problem(reply, key.limit, True)
        if problem:
            self.violation("reply", key, problem)
            return None
        decision = replies.ints(reply, 5)
        assert not isinstance(decision, str) and isinstance(pttl, int)
        if decision[0]:
            key.admitted += 1
        reset = decision[4]
        expected = reset if pttl >= 0 else 0
        if pttl == -1 or abs(expected - max(pttl, 0)) > c.tolerance_ms:
            self.violation(
                "reset_after == PTTL", key, f"reset_after_ms {reset}, PTTL {pttl} (at {c.now_us})"
            )
        return decision

    def fill(self, c: Clocked, key: Key, units: int) -> None:
        for _ in range(units):
            self.hit(c, key)
        ref = peek(c.conn, key)
        key.used0 = used(ref)
        key.wait0 = ref[3] if not ref[0] else 0
        key.notes.append(f"at t0 {key.used0} in use, wait {key.wait0} ms")

    def after_step(self, c: Clocked, key: Key, step_ms: int, drain_ms: int) -> None:
        """The checks once the clock stepped by `step_ms` from t0."""
        now = peek(c.conn, key)
        in_use = used(now)
        key.notes.append(f"after the step {in_use} in use, peek {now}")
        if step_ms < 0 and in_use < key.used0:
            self.violation(
                "no capacity regained",
                key,
                f"{key.used0} units in use at t0, "
                f"{in_use} after the clock stepped back {-step_ms} ms",
            )
        bound = key.wait0 + drain_ms if step_ms < 0 else max(0, key.wait0 - step_ms)
        bound += SLACK_MS + MAX_RETRIES * c.tolerance_ms
        waited = previous = 0
        honoured = True
        for attempt in range(MAX_RETRIES):
            decision = self.hit(c, key)
            if decision is None:
                return
            if decision[0]:
                break
            retry = decision[3]
            if retry < 0:
                self.violation(
                    "retry_after",
                    key,
                    "denied with retry_after -1 although the cost fits the capacity",
                )
                return
            if attempt > 0 and honoured:
                honoured = False
                self.violation(
                    "retry_after honoured",
                    key,
                    f"after waiting {previous} ms as "
                    f"told, denied again with retry_after {retry} ms",
                )
            if waited + retry > bound:
                self.violation(
                    "denial bounded",
                    key,
                    f"denied {waited + retry} ms in all "
                    f"(waited {waited}, told to wait {retry} more), the bound is "
                    f"{bound} ms",
                )
                return
            previous = retry
            waited += retry + c.tolerance_ms
            c.set(c.now_us + (retry + c.tolerance_ms) * 1000)
        else:
            self.violation("denial bounded", key, f"still denied after {MAX_RETRIES} retries")
            return
        final = used(peek(c.conn, key))
        if final > key.admitted:
            self.violation(
                "never counted twice", key, f"{final} units in use, {key.admitted} ever admitted"
            )


def fresh_keys(prefix: str, algorithms: tuple[str, ...]) -> list[Key]:
    keys = []
    for a in algorithms:
        keys.append(Key(f"{prefix}:{a.lower()}:part", a))
        keys.append(Key(f"{prefix}:{a.lower()}:full", a))
    return keys


def step_scenarios(kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
    server = harness.start(kind, clock=True)
    try:
        tolerance = 1 if "valkey_version" in server.client().info("server") else 0
        base = harness.EPOCH_US
        c = Clocked(server, base, tolerance)
        for n, step_us in enumerate(cfg.clock_steps):
            base += 10 * 86_400_000_000  # far from every earlier scenario
            c.set(base)
            step_ms = step_us // 1000
            scenario = Scenario(f"step {step_ms:+d} ms", rep)
            keys = fresh_keys(f"step{n}", harness.grammar(server).algorithms)
            for key in keys:
                scenario.fill(c, key, 3 if key.name.endswith("part") else LIMIT)
            c.set(base + step_us)
            for key in keys:
                # Each key gets the clock as it stands after the step, not as the previous
                # key's retries left it.
                c.set(base + step_us)
                scenario.after_step(c, key, step_ms, WINDOW_MS)
        c.close()
    finally:
        server.stop()


def failover(kind: servers.ServerKind, skew_ms: int, rep: ServerReport) -> None:
    """Hits on a primary at t0, then on its promoted replica whose clock is off by `skew_ms`."""
    primary = harness.start(kind, clock=True)
    replica = harness.start(kind, clock=True)
    try:
        tolerance = 1 if "valkey_version" in primary.client().info("server") else 0
        t0 = harness.EPOCH_US
        p = Clocked(primary, t0, tolerance)
        r = Clocked(replica, t0 + skew_ms * 1000, tolerance)
        replica.client().replicaof("127.0.0.1", primary.port)
        scenario = Scenario(f"failover to a replica {skew_ms:+d} ms off", rep)
        keys = fresh_keys(f"failover{skew_ms}", harness.grammar(primary).algorithms)
        for key in keys:
            scenario.fill(p, key, 3 if key.name.endswith("part") else LIMIT)

        def in_step() -> bool:
            a = primary.client().info("replication")
            b = replica.client().info("replication")
            return b.get("master_link_status") == "up" and a.get("master_repl_offset") == b.get(
                "slave_repl_offset"
            )

        harness.wait_for(in_step, 30, "the replica to catch up")
        replica.client().replicaof("no", "one")
        primary.stop()
        for key in keys:
            r.set(t0 + skew_ms * 1000)
            scenario.after_step(r, key, skew_ms, WINDOW_MS)
        p.close()
        r.close()
    finally:
        primary.stop()
        replica.stop()


def run(kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
    step_scenarios(kind, cfg, rep)
    for skew_ms in (-600_000, 600_000):
        failover(kind, skew_ms, rep)
    log(f"  clock: {len(cfg.clock_steps)} steps and 2 failovers")
