"""Probe 3: SIGKILL under load.

A primary with `appendonly yes` and `appendfsync always`, and a replica, take pipelined RL.HIT
and RL.MHIT traffic on keys whose usage can be counted exactly (limits.py). At a random moment
the primary is killed. Then:
  - the replica, still running, holds no hit that was never sent (it may lag: replication is
    asynchronous);
  - the primary, restarted from its AOF, counts every hit the client saw admitted, and none
    that was never sent (hits in flight when it died may or may not count);
  - the replica, re-attached to the restarted primary, holds the same bytes (DUMP) and
    expiries for every key, and so counts every admitted hit too.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
from collections import defaultdict
from collections.abc import Sequence

import redis

import harness
import limits
import servers
from limits import Counted
from report import ServerReport, log
from resp import Arg, ConnectionLost

PROBE = "crash"
PIPELINE = 64
AOF = {"appendonly": "yes", "appendfsync": "always"}
# Every other kill, the AOF is rewritten during the load as commands (RL.SETSTATE, the
# module's aof_rewrite) rather than as an RDB preamble, and the kill may land in the rewrite.
AOF_AS_COMMANDS = {**AOF, "aof-use-rdb-preamble": "no"}


def replication_in_step(primary: servers.Server, replica: servers.Server) -> bool:
    p = primary.client().info("replication")
    r = replica.client().info("replication")
    return (
        r.get("master_link_status") == "up"
        and not r.get("master_sync_in_progress")
        and p.get("master_repl_offset") == r.get("slave_repl_offset")
    )


def attach(replica: servers.Server, primary: servers.Server) -> None:
    replica.client().replicaof("127.0.0.1", primary.port)
    harness.wait_for(lambda: replication_in_step(primary, replica), 30, "the replica to catch up")


class Load:
    """Pipelined hits until the primary dies; what the client saw, per key."""

    def __init__(self, rng: random.Random, keys: list[Counted], pairs: list[limits.Pair]) -> None:
        self.rng = rng
        self.keys = keys
        self.pairs = pairs
        self.admitted: dict[bytes, int] = defaultdict(int)
        self.in_flight: dict[bytes, int] = defaultdict(int)
        self.sent = 0

    def batch(self) -> list[tuple[list[str | bytes], list[bytes], int]]:
        out = []
        for _ in range(PIPELINE):
            cost = self.rng.choice((1, 1, 1, 2, 3))
            if self.pairs and self.rng.random() < 0.2:
                pair = self.rng.choice(self.pairs)
                out.append((pair.command(cost), [pair.first.key, pair.second.key], cost))
            else:
                k = self.rng.choice(self.keys)
                out.append((["RL.HIT", k.key, *k.args, "COST", str(cost)], [k.key], cost))
        return out

    def run(self, port: int) -> None:
        conn = harness.connect_port(port)
        try:
            while True:
                batch = self.batch()
                try:
                    answers = conn.pipeline([c for c, _, _ in batch])
                except ConnectionLost as lost:
                    answers = lost.replies
                    for _, keys, cost in batch[len(answers) :]:
                        for key in keys:
                            self.in_flight[key] += cost
                    self.count(batch, answers)
                    return
                self.count(batch, answers)
        finally:
            conn.close()

    def count(
        self, batch: list[tuple[list[str | bytes], list[bytes], int]], answers: Sequence[object]
    ) -> None:
        for (_, keys, cost), answer in zip(batch, answers, strict=False):
            self.sent += 1
            if isinstance(answer, list) and answer and answer[0] == 1:
                for key in keys:
                    self.admitted[key] += cost


def start_rewrite(server: servers.Server) -> None:
    with contextlib.suppress(redis.RedisError):  # killed meanwhile, or already rewriting
        server.client(socket_timeout=5).bgrewriteaof()


def rewrite_progress(server: servers.Server) -> str:
    """What the server's log says of the AOF rewrite (the kill may land before, in or after)."""
    text = server.log()
    if "rewrite terminated with success" in text:
        return "AOF rewritten as commands before the kill"
    if "rewriting started" in text:
        return "killed during an AOF rewrite as commands"
    return "killed before the AOF rewrite started"


def usage(server: servers.Server, keys: list[Counted]) -> dict[bytes, int | None]:
    conn = harness.connect(server)
    try:
        answers = conn.pipeline([["RL.PEEK", k.key, *k.args] for k in keys])
    finally:
        conn.close()
    return {k.key: limits.used(a) for k, a in zip(keys, answers, strict=False)}


def snapshot(server: servers.Server, keys: list[Counted]) -> dict[bytes, tuple[object, object]]:
    conn = harness.connect(server)
    try:
        commands: list[list[Arg]] = []
        for k in keys:
            commands += [["DUMP", k.key], ["PEXPIRETIME", k.key]]
        answers = conn.pipeline(commands)
    finally:
        conn.close()
    return {k.key: (answers[2 * i], answers[2 * i + 1]) for i, k in enumerate(keys)}


def one_kill(
    kind: servers.ServerKind, rng: random.Random, rep: ServerReport, round_no: int, seed: int
) -> None:
    where = f"kill {round_no + 1} of seed {seed}"
    directory = harness.scratch("crash")
    rewrite = round_no % 2 == 1
    config = AOF_AS_COMMANDS if rewrite else AOF
    primary = harness.start(kind, directory=directory, config=config)
    algorithms = harness.grammar(primary).algorithms
    keys = limits.counted_keys(f"c{round_no}:", 6, algorithms)
    pairs = limits.pairs(f"c{round_no}", 6, rng, algorithms)
    everything = keys + [k for p in pairs for k in (p.first, p.second)]
    replica = harness.start(kind)
    restarted: servers.Server | None = None
    try:
        attach(replica, primary)
        load = Load(rng, keys, pairs)
        delay = rng.uniform(0.3, 1.5)
        killer = threading.Timer(delay, lambda: primary.process.send_signal(signal.SIGKILL))
        rewriter = threading.Timer(delay * rng.uniform(0.3, 0.9), lambda: start_rewrite(primary))
        killer.start()
        if rewrite:
            rewriter.start()
        load.run(primary.port)
        killer.join()
        rewriter.cancel()
        primary.process.wait()
        log(
            f"    {where}: {load.sent} commands, {sum(load.admitted.values())} units admitted, "
            f"killed after {delay:.2f} s" + (f", {rewrite_progress(primary)}" if rewrite else "")
        )

        if not replica.alive():
            rep.add("crashes")
            rep.fail(PROBE, "replica died", f"{where}: {harness.log_tail(replica)}")
            return
        on_replica = usage(replica, everything)
        for k in everything:
            on_it = on_replica[k.key] or 0
            if on_it > load.admitted[k.key] + load.in_flight[k.key]:
                sent = f"admitted {load.admitted[k.key]} + in flight {load.in_flight[k.key]}"
                rep.fail(
                    PROBE, "phantom hits (replica)", f"{where}: {k.key!r} holds {on_it}, {sent}"
                )

        try:
            restarted = harness.start(kind, directory=directory, config=config)
        except RuntimeError as e:
            rep.add("crashes")
            rep.fail(PROBE, "restart from the AOF", f"{where}: {e}")
            return
        after = usage(restarted, everything)
        for k in everything:
            held = after[k.key]
            seen, maybe = load.admitted[k.key], load.in_flight[k.key]
            if held is None:
                rep.fail(PROBE, "unreadable key", f"{where}: RL.PEEK {k.key!r} after restart")
            elif held < seen:
                rep.add("hits_lost", seen - held)
                rep.fail(
                    PROBE,
                    "admitted hits lost",
                    f"{where}: {k.key!r} ({k.algorithm}) "
                    f"counts {held} after restart, the client saw {seen} admitted",
                )
            elif held > seen + maybe:
                rep.fail(
                    PROBE,
                    "phantom hits",
                    f"{where}: {k.key!r} counts {held}, admitted {seen} + in flight {maybe}",
                )

        attach(replica, restarted)
        ours, theirs = snapshot(restarted, everything), snapshot(replica, everything)
        for k in everything:
            if ours[k.key] != theirs[k.key]:
                rep.fail(
                    PROBE,
                    "replica differs",
                    f"{where}: {k.key!r}: primary "
                    f"{ours[k.key]!r:.200} replica {theirs[k.key]!r:.200}",
                )
    except (redis.RedisError, TimeoutError) as e:
        rep.fail(PROBE, "server error", f"{where}: {e!r}")
    finally:
        for s in (primary, replica, restarted):
            if s is not None:
                s.stop()


def run(kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
    rng = random.Random(cfg.seed * 31 + 3)
    for i in range(cfg.kills):
        one_kill(kind, rng, rep, i, cfg.seed)
