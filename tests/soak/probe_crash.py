"""Probe 3: SIGKILL under load.

A primary with `appendonly yes` and `appendfsync always`, and a replica, take pipelined RL.HIT
and RL.MHIT traffic on keys whose usage can be counted exactly (limits.py; ALGO LOG keys too
when the module has it), and RL.ACQUIRE and RL.RELEASE of hour-long leases under ids the
client names. At a random moment the primary is killed. Then:
  - the replica, still running, holds no hit and no lease that was never sent (it may lag:
    replication is asynchronous);
  - the primary, restarted from its AOF, counts every hit the client saw admitted, and none
    that was never sent (hits in flight when it died may or may not count); it holds every
    lease the client saw granted and did not release, and none the client saw released (a
    released lease never comes back), nor one never asked for;
  - the replica, re-attached to the restarted primary, holds the same bytes (DUMP) and
    expiries for every key, and so counts every admitted hit and holds the same leases.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
from collections import defaultdict
from collections.abc import Sequence

import redis

import dump
import harness
import leases
import limits
import servers
from limits import Counted
from report import ServerReport, log
from resp import Arg, ConnectionLost

PROBE = "crash"
PIPELINE = 64
LEASE_LIMIT = 1_000
LEASE_KEYS = 6
# (op, key, id): a lease command's part in a batch.
LeaseOp = tuple[str, bytes, bytes]
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


Sent = tuple[list[str | bytes], list[bytes], int, LeaseOp | None]


class Load:
    """Pipelined hits and leases until the primary dies; what the client saw, per key."""

    def __init__(
        self,
        rng: random.Random,
        keys: list[Counted],
        pairs: list[limits.Pair],
        lease_keys: list[bytes] | None = None,
    ) -> None:
        self.rng = rng
        self.keys = keys
        self.pairs = pairs
        self.lease_keys = lease_keys or []
        self.admitted: dict[bytes, int] = defaultdict(int)
        self.in_flight: dict[bytes, int] = defaultdict(int)
        self.sent = 0
        # Leases: granted and not released, released (RL.RELEASE answered 1), and those whose
        # acquire or release was in flight when the primary died (either way is right).
        self.held: set[tuple[bytes, bytes]] = set()
        self.released: set[tuple[bytes, bytes]] = set()
        self.unsure: set[tuple[bytes, bytes]] = set()
        self.asked: set[tuple[bytes, bytes]] = set()
        self.problems: list[str] = []
        self.made = 0

    def lease_command(self, releasing: set[tuple[bytes, bytes]]) -> Sent:
        free = sorted(self.held - releasing)
        if free and self.rng.random() < 0.45:
            key, lease_id = self.rng.choice(free)
            releasing.add((key, lease_id))
            return (["RL.RELEASE", key, lease_id], [], 0, ("release", key, lease_id))
        key = self.rng.choice(self.lease_keys)
        self.made += 1
        lease_id = f"w{self.made}".encode()
        self.asked.add((key, lease_id))
        command: list[str | bytes] = ["RL.ACQUIRE", key, str(LEASE_LIMIT), "1h", "ID", lease_id]
        return (command, [], 0, ("acquire", key, lease_id))

    def batch(self) -> list[Sent]:
        out: list[Sent] = []
        releasing: set[tuple[bytes, bytes]] = set()
        for _ in range(PIPELINE):
            cost = self.rng.choice((1, 1, 1, 2, 3))
            if self.lease_keys and self.rng.random() < 0.2:
                out.append(self.lease_command(releasing))
            elif self.pairs and self.rng.random() < 0.2:
                pair = self.rng.choice(self.pairs)
                out.append((pair.command(cost), [pair.first.key, pair.second.key], cost, None))
            else:
                k = self.rng.choice(self.keys)
                hit: list[str | bytes] = ["RL.HIT", k.key, *k.args, "COST", str(cost)]
                out.append((hit, [k.key], cost, None))
        return out

    def run(self, port: int) -> None:
        conn = harness.connect_port(port)
        try:
            while True:
                batch = self.batch()
                try:
                    answers = conn.pipeline([c for c, _, _, _ in batch])
                except ConnectionLost as lost:
                    answers = lost.replies
                    for _, keys, cost, lease in batch[len(answers) :]:
                        for key in keys:
                            self.in_flight[key] += cost
                        if lease is not None:
                            self.unsure.add(lease[1:])
                            self.held.discard(lease[1:])
                    self.count(batch, answers)
                    return
                self.count(batch, answers)
        finally:
            conn.close()

    def count(self, batch: list[Sent], answers: Sequence[object]) -> None:
        for (_, keys, cost, lease), answer in zip(batch, answers, strict=False):
            self.sent += 1
            if lease is not None:
                self.count_lease(lease, answer)
            elif isinstance(answer, list) and answer and answer[0] == 1:
                for key in keys:
                    self.admitted[key] += cost

    def count_lease(self, lease: LeaseOp, answer: object) -> None:
        op, key, lease_id = lease
        if op == "acquire":
            if isinstance(answer, list) and len(answer) == 6 and answer[0] == 1:
                self.held.add((key, lease_id))
            elif not (isinstance(answer, list) and len(answer) == 6 and answer[0] == 0):
                self.problems.append(f"RL.ACQUIRE {key!r} ID {lease_id!r} answered {answer!r}")
            return
        self.held.discard((key, lease_id))
        if answer == 1:
            self.released.add((key, lease_id))
        else:
            self.problems.append(f"RL.RELEASE of a held lease {key!r} {lease_id!r}: {answer!r}")


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


def snapshot(server: servers.Server, keys: list[bytes]) -> dict[bytes, tuple[object, object]]:
    conn = harness.connect(server)
    try:
        commands: list[list[Arg]] = []
        for k in keys:
            commands += [["DUMP", k], ["PEXPIRETIME", k]]
        answers = conn.pipeline(commands)
    finally:
        conn.close()
    return {k: (answers[2 * i], answers[2 * i + 1]) for i, k in enumerate(keys)}


def held_leases(server: servers.Server, keys: list[bytes]) -> set[tuple[bytes, bytes]]:
    """(key, id) of every lease the server holds under `keys`, read from their DUMPs (the
    leases are an hour long: none expires during the probe)."""
    out = set()
    for key, (data, _) in snapshot(server, keys).items():
        if not isinstance(data, bytes):
            continue
        state = leases.decode(dump.parse(data).state)
        if state is None:
            raise ValueError(f"{key!r} holds leases the soak cannot read: {data.hex()}")
        out |= {(key, lease.id) for lease in state.leases}
    return out


def check_leases(
    load: Load, found: set[tuple[bytes, bytes]], where: str, rep: ServerReport, restarted: bool
) -> None:
    for problem in load.problems:
        rep.fail(PROBE, "lease answers", f"{where}: {problem}")
    load.problems.clear()
    for key, lease_id in sorted(found - load.asked):
        rep.fail(PROBE, "phantom lease", f"{where}: {key!r} holds {lease_id!r}, never asked for")
    if not restarted:
        return  # the replica may lag behind what the primary acknowledged
    for key, lease_id in sorted(load.held - found):
        rep.fail(
            PROBE,
            "granted lease lost",
            f"{where}: {key!r} lost {lease_id!r}, granted and never released",
        )
    for key, lease_id in sorted(load.released & found):
        rep.fail(
            PROBE,
            "released lease resurrected",
            f"{where}: {key!r} holds {lease_id!r} again, which RL.RELEASE had released",
        )


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
    has_leases = harness.grammar(primary).lease_max_held is not None
    lease_keys = [f"c{round_no}:lease:{i}".encode() for i in range(LEASE_KEYS if has_leases else 0)]
    replica = harness.start(kind)
    restarted: servers.Server | None = None
    try:
        attach(replica, primary)
        load = Load(rng, keys, pairs, lease_keys)
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
            f"{len(load.held)} leases held, {len(load.released)} released, "
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
        check_leases(load, held_leases(replica, lease_keys), f"{where} (replica)", rep, False)

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

        check_leases(load, held_leases(restarted, lease_keys), where, rep, True)

        attach(replica, restarted)
        names = [k.key for k in everything] + lease_keys
        ours, theirs = snapshot(restarted, names), snapshot(replica, names)
        for key in names:
            if ours[key] != theirs[key]:
                rep.fail(
                    PROBE,
                    "replica differs",
                    f"{where}: {key!r}: primary {ours[key]!r:.200} replica {theirs[key]!r:.200}",
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
