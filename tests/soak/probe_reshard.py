"""Probe 4: resharding under traffic.

A cluster of three primaries (cluster.py). Rate-limit keys of every algorithm, and RL.MHIT
pairs, all in the first slots of one node, take RL.HIT / RL.MHIT traffic from redis-py's
RedisCluster (which follows MOVED and ASK) while `redis-cli --cluster reshard` moves those
slots to another node. Then:
  - the reshard succeeded (no "Bad data format"), and `--cluster check` is clean;
  - every key counts exactly the hits the client saw admitted (limits.py);
  - a second reshard, without traffic, carries every key's DUMP unchanged, and its
    PEXPIRETIME unchanged but for what MIGRATE's relative TTL may add (at most the move's time);
  - on Valkey 9.1, CLUSTER MIGRATESLOTS (atomic slot migration) moves them again under
    traffic, with the same checks: it must be accepted.
  - RL.MHIT across two slots is refused with CROSSSLOT;
  - states at the edges of what the module accepts, planted and hit, migrate too.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import redis
from redis.crc import key_slot

import cluster
import harness
import limits
import probe_restore
import servers
import states
from cluster import Cluster
from limits import Counted
from report import ServerReport, log
from resp import Error

PROBE = "reshard"


def keys_in_slots(
    prefix: str, slots: int, per_algorithm: int, algorithms: tuple[str, ...]
) -> list[Counted]:
    """Counted keys whose hash slot is below `slots`."""
    out: list[Counted] = []
    for algorithm in algorithms:
        n = 0
        while len([k for k in out if k.algorithm == algorithm]) < per_algorithm:
            name = f"{prefix}{algorithm.lower()}:{n}".encode()
            n += 1
            if key_slot(name) < slots:
                out.append(Counted(name, algorithm))
    return out


def pairs_in_slots(
    prefix: str, slots: int, count: int, rng: random.Random, algorithms: tuple[str, ...]
) -> list[limits.Pair]:
    out: list[limits.Pair] = []
    n = 0
    while len(out) < count:
        tag = f"{prefix}m{n}"
        n += 1
        if key_slot(tag.encode()) < slots:
            a, b = rng.sample(algorithms, 2)
            out.append(
                limits.Pair(
                    Counted(f"{{{tag}}}:{a.lower()}".encode(), a),
                    Counted(f"{{{tag}}}:{b.lower()}".encode(), b),
                )
            )
    return out


class Traffic:
    """RL.HIT and RL.MHIT through a cluster client, in a thread, counting what was admitted."""

    def __init__(
        self, c: Cluster, rng: random.Random, keys: list[Counted], pairs: list[limits.Pair]
    ) -> None:
        self.client = c.client()
        self.rng = rng
        self.keys = keys
        self.pairs = pairs
        self.admitted: dict[bytes, int] = defaultdict(int)
        self.unknown: dict[bytes, int] = defaultdict(int)
        self.errors: list[str] = []
        self.sent = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            cost = self.rng.choice((1, 1, 2))
            if self.rng.random() < 0.2:
                pair = self.rng.choice(self.pairs)
                command, touched = pair.command(cost), [pair.first.key, pair.second.key]
            else:
                k = self.rng.choice(self.keys)
                command, touched = ["RL.HIT", k.key, *k.args, "COST", str(cost)], [k.key]
            self.sent += 1
            try:
                answer = self.client.execute_command(*command)
            except redis.RedisError as e:
                # Retries exhausted: the hit may or may not have been counted.
                for key in touched:
                    self.unknown[key] += cost
                if len(self.errors) < 5:
                    self.errors.append(f"{command[0]!r} {touched[0]!r}: {e!r}")
                continue
            if isinstance(answer, list) and answer and answer[0] == 1:
                for key in touched:
                    self.admitted[key] += cost

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)
        self.client.close()


def owner_of(c: Cluster, key: bytes) -> servers.Server:
    return c.owner(key_slot(key))


def snapshot(c: Cluster, keys: list[Counted]) -> dict[bytes, tuple[object, object]]:
    out: dict[bytes, tuple[object, object]] = {}
    for k in keys:
        client = owner_of(c, k.key).client()
        out[k.key] = (client.dump(k.key), client.execute_command("PEXPIRETIME", k.key))
    return out


def check_counts(
    c: Cluster, traffic: Traffic, keys: list[Counted], rep: ServerReport, where: str
) -> None:
    for k in keys:
        answer = owner_of(c, k.key).client().execute_command("RL.PEEK", k.key, *k.args)
        held = limits.used(answer)
        seen, maybe = traffic.admitted[k.key], traffic.unknown[k.key]
        if held is None:
            rep.fail(PROBE, "unreadable key", f"{where}: RL.PEEK {k.key!r} answered {answer!r}")
        elif held < seen:
            rep.add("hits_lost", seen - held)
            rep.fail(
                PROBE,
                "admitted hits lost",
                f"{where}: {k.key!r} ({k.algorithm}) counts {held}, the client saw {seen} admitted",
            )
        elif held > seen + maybe:
            rep.fail(
                PROBE,
                "phantom hits",
                f"{where}: {k.key!r} counts {held}, admitted {seen} + unknown {maybe}",
            )


def compare(
    before: dict[bytes, tuple[object, object]],
    after: dict[bytes, tuple[object, object]],
    rep: ServerReport,
    where: str,
    took_ms: int,
) -> int:
    """Checks that keys moved unchanged; returns the largest expiry drift seen (ms). MIGRATE
    carries a TTL relative to the source's clock, so a key's expiry on the target may land
    later by as long as the move took: never earlier, never later than that."""
    drift = 0
    for key, (data, at) in before.items():
        data2, at2 = after[key]
        if data2 != data:
            rep.fail(
                PROBE,
                "DUMP changed by the move",
                f"{where}: {key!r}: {data!r:.160} -> {data2!r:.160}",
            )
            continue
        if isinstance(at, int) and isinstance(at2, int):
            drift = max(drift, abs(at2 - at))
            if not 0 <= at2 - at <= took_ms:
                rep.fail(
                    PROBE, "PEXPIRETIME changed by the move", f"{where}: {key!r}: {at} -> {at2}"
                )
        elif at != at2:
            rep.fail(PROBE, "PEXPIRETIME changed by the move", f"{where}: {key!r}: {at} -> {at2}")
    return drift


def cli_ok(rc: int, out: str, rep: ServerReport, what: str) -> bool:
    bad = rc != 0 or "Bad data format" in out or "[ERR]" in out
    if bad:
        errors = [line for line in out.splitlines() if "ERR" in line or "rror" in line]
        rep.fail(PROBE, what, f"redis-cli exited {rc}: {' | '.join(errors)[-1500:] or out[-800:]}")
    return not bad


def atomic_migration(
    c: Cluster, source: servers.Server, target: servers.Server, slots: int, rep: ServerReport
) -> bool:
    """CLUSTER MIGRATESLOTS of slots 0..slots-1; True when it completed."""
    try:
        answer = source.client().execute_command(
            "CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", 0, slots - 1, "NODE", c.node_id(target)
        )
    except redis.RedisError as e:
        rep.fail(PROBE, "CLUSTER MIGRATESLOTS refused", f"the server answered: {e}")
        return False
    log(f"    CLUSTER MIGRATESLOTS answered {answer!r}")

    def finished() -> bool:
        jobs = source.client().execute_command("CLUSTER", "GETSLOTMIGRATIONS")
        states = [j.get(b"state") for j in jobs if isinstance(j, dict)]
        return bool(states) and all(s in (b"success", b"failed", b"cancelled") for s in states)

    harness.wait_for(finished, 120, "CLUSTER MIGRATESLOTS to finish")
    jobs = source.client().execute_command("CLUSTER", "GETSLOTMIGRATIONS")
    failed = [j for j in jobs if isinstance(j, dict) and j.get(b"state") != b"success"]
    if failed:
        rep.fail(PROBE, "CLUSTER MIGRATESLOTS failed", repr(failed)[:1500])
        return False
    harness.wait_for(c.settled, 60, "the cluster to settle")
    return True


def edge_states(c: Cluster, rng: random.Random, slots: int, rep: ServerReport) -> None:
    """Every state the module accepts must migrate: states at the edges of the decoder's
    bounds, planted with RESTORE and then hit with their own and larger parameters, moved by
    one more reshard."""
    planted = []
    names = (f"edge:{n}".encode() for n in range(10**6))
    for key in [k for k in names if key_slot(k) < slots][:24]:
        node = owner_of(c, key)
        state = states.random_valid(rng, int(time.time() * 1_000_000))
        with harness.connect(node) as conn:
            if not probe_restore.plant(conn, key, state):
                continue
            conn.pipeline(
                [["RL.HIT", key, *args] for args in probe_restore.requests_for(state, None)[:-1]]
            )
            planted.append((key, state, node))
    source = owner_of(c, planted[0][0]) if planted else c.owner(0)
    target = next(n for n in c.nodes if n is not source)
    rc, out = c.reshard(source, target, slots)
    if not cli_ok(rc, out, rep, "reshard of edge states"):
        bad = [f"{k!r} planted {s.describe()}" for k, s, _ in planted[:20]]
        log(f"    the edge states planted: {'; '.join(bad)}")


def is_valkey(node: servers.Server) -> bool:
    return "valkey_version" in node.client().info("server")


def run(kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
    rng = random.Random(cfg.seed * 131 + 4)
    slots = cfg.reshard_slots
    per_algorithm = 5 if cfg.quick else 20
    c = cluster.start(kind)
    try:
        a = c.owner(0)
        b, third = [n for n in c.nodes if n is not a]
        algorithms = harness.grammar(a).algorithms
        keys = keys_in_slots("s:", slots, per_algorithm, algorithms)
        pairs = pairs_in_slots("s", slots, 4 if cfg.quick else 15, rng, algorithms)
        everything = keys + [k for p in pairs for k in (p.first, p.second)]

        with harness.connect(a) as conn:
            answer = conn.call("RL.MHIT", 2, "x:{1}", "x:{2}", "LIMIT", 5, 60, "LIMIT", 5, 60)
        if not (isinstance(answer, Error) and answer.code == "CROSSSLOT"):
            rep.fail(PROBE, "CROSSSLOT", f"RL.MHIT over two slots answered {answer!r}")

        with Traffic(c, rng, keys, pairs) as traffic:
            time.sleep(0.5)
            rc, out = c.reshard(a, b, slots)
            time.sleep(0.3)
        log(
            f"    reshard of {slots} slots under traffic: {traffic.sent} commands, "
            f"{sum(traffic.admitted.values())} units admitted, exit {rc}"
        )
        for e in traffic.errors:
            rep.fail(PROBE, "client error under traffic", e)
        cli_ok(rc, out, rep, "reshard under traffic")
        harness.wait_for(c.settled, 60, "the cluster to settle")
        cli_ok(*c.check(), rep, "cluster check")
        check_counts(c, traffic, everything, rep, "after the reshard under traffic")

        before = snapshot(c, everything)
        started = time.monotonic()
        rc, out = c.reshard(b, third, slots)
        took_ms = int((time.monotonic() - started) * 1000) + 1
        if cli_ok(rc, out, rep, "reshard without traffic"):
            harness.wait_for(c.settled, 60, "the cluster to settle")
            after = snapshot(c, everything)
            drift = compare(before, after, rep, "second reshard", took_ms)
            n = len(everything)
            log(f"    second reshard ({took_ms} ms): {n} keys, expiry drift up to {drift} ms")

        if is_valkey(a):
            with Traffic(c, rng, keys, pairs) as traffic2:
                time.sleep(0.3)
                moved = atomic_migration(c, third, a, slots, rep)
                time.sleep(0.3)
            if moved:
                for key in traffic.admitted:
                    traffic2.admitted[key] += traffic.admitted[key]
                for key in traffic.unknown:
                    traffic2.unknown[key] += traffic.unknown[key]
                check_counts(c, traffic2, everything, rep, "after CLUSTER MIGRATESLOTS")

        edge_states(c, random.Random(cfg.seed * 131 + 5), slots, rep)
    finally:
        c.stop()
