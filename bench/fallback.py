#!/usr/bin/env python3
"""The script fallback's server time beside the module's, for ALGO LOG and RL.ACQUIRE.

    build/venv/bin/python bench/fallback.py      (about two minutes; prints a table)

One redis-server with the module, pinned to one core, redis-benchmark (50 connections,
pipeline 1) on the other, as bench/bench.py runs them. For each command: the module's, then
the same request through the Python package's Lua fallback as a script (EVALSHA) and as a
function (FCALL). Server time per call is INFO commandstats usec_per_call (the fallback's: of
EVALSHA or FCALL, the whole script); the median of the rounds.

- RL.HIT SLIDING and ALGO LOG on 1,000 random keys, limits 10 and 1,000 per 60 s: the keys
  fill up, and then most requests are denied (a denied LOG request walks the entries that must
  age out before it fits);
- RL.ACQUIRE with 10 and 1,000 leases held under each key (planted first): the benchmarked
  request takes the lease of its own id again, so every call is granted and writes the key.

The machine's other work moves these figures (the module's as well): compare the columns of
one run, not runs.
"""

import os
import signal
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # the pinned server, redis-benchmark and commandstats helpers

sys.path.insert(0, os.path.join(bench.ROOT, "python", "src"))
from redis_rl import scripts  # run with the venv's Python

ROUNDS = 3
REQUESTS = 30_000
LOG_KEYS = 1_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forms(command, key, args):
    """The request through the module, EVALSHA and FCALL: (form, argv, commandstats name)."""
    return [
        ("module", [command, key, *args], command.lower()),
        ("EVALSHA", ["EVALSHA", scripts.SCRIPT_SHA, "1", key, command, *args], "evalsha"),
        ("FCALL", ["FCALL", scripts.FUNCTIONS[command], "1", key, *args], "fcall"),
    ]


def measure(redis, argv, stat, keyspace, requests):
    redis.call("CONFIG", "RESETSTAT")
    bench.benchmark(argv, keyspace, requests, 1)
    return bench.usec_per_call(redis, [stat])


def plant_leases(redis, held, keys):
    """`held - 1` leases of an hour under each key, in the module's keys (m:) and in the
    fallback's layout (s:, see lua/rl.lua): the benchmarked request adds the last one."""
    now_us = int(time.time() * 1_000_000)
    commands = []
    for k in range(keys):
        fields = [b"", f"A1 {now_us}".encode()]
        for i in range(held - 1):
            lease_id = f"w{i}".encode()
            commands.append(
                [
                    b"RL.ACQUIRE",
                    f"m:{k:012d}".encode(),
                    str(held).encode(),
                    b"3600",
                    b"ID",
                    lease_id,
                ]
            )
            fields += [lease_id, f"{now_us + 3_600_000_000} 1".encode()]
        commands.append([b"HSET", f"s:{k:012d}".encode(), *fields])
        expiry = str(now_us // 1000 + 3_600_001).encode()
        commands.append([b"PEXPIREAT", f"s:{k:012d}".encode(), expiry])
    bench.pipe_commands(commands)


def main():
    # Stopped from outside, the server stops too (see the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    bench.PORT = free_port()
    workdir = os.path.join(bench.ROOT, "build", "bench-fallback")
    server = bench.Server(workdir)
    redis = server.redis
    rows = []
    try:
        redis.call("SCRIPT", "LOAD", scripts.SCRIPT)
        redis.call("FUNCTION", "LOAD", "REPLACE", scripts.LIBRARY)
        cases = []
        for limit in (10, 1_000):
            for algo in ("SLIDING", "LOG"):
                label = f"RL.HIT {algo}, limit {limit}"
                cases.append((label, "RL.HIT", [str(limit), "60", "ALGO", algo], None))
        for held in (10, 1_000):
            label = f"RL.ACQUIRE, {held} leases held"
            cases.append((label, "RL.ACQUIRE", [str(held), "3600", "ID", "bench"], held))
        samples = {}
        for round_ in range(ROUNDS):
            for label, command, args, held in cases:
                redis.call("FLUSHALL")
                keys = LOG_KEYS if held is None else max(10, 100_000 // held)
                if held is not None:
                    plant_leases(redis, held, keys)
                for form, argv, stat in forms(command, "%s:__rand_int__", args):
                    prefix = "m" if form == "module" else "s"
                    if held is None:
                        prefix = form  # each form on keys of its own
                    argv = [a.replace("%s", prefix) if "%s" in a else a for a in argv]
                    # The fallback reads every lease of the key per call: fewer of those.
                    requests = REQUESTS if (held or 0) < 1_000 else REQUESTS // 20
                    usec = measure(redis, argv, stat, keys, requests)
                    samples.setdefault((label, form), []).append(usec)
                    bench.log(f"   {round_ + 1} {label:32} {form:8} {usec:8.2f} us/call")
        for label, _, _, _ in cases:
            row = [label]
            for form in ("module", "EVALSHA", "FCALL"):
                row.append(statistics.median(samples[(label, form)]))
            rows.append(row)
        version = server.version
    finally:
        server.stop()
    print()
    print(
        f"Redis {version}, median of {ROUNDS} rounds of {REQUESTS} requests "
        f"({REQUESTS // 20} with 1,000 leases held; redis-benchmark, 50 connections, "
        "pipeline 1), server us per call:"
    )
    print()
    print("| request | module | fallback, EVALSHA | fallback, FCALL |")
    print("|---|---:|---:|---:|")
    for label, module, evalsha, fcall in rows:
        print(
            f"| {label} | {module:.2f} | {evalsha:.2f} ({evalsha / module:.1f}x) "
            f"| {fcall:.2f} ({fcall / module:.1f}x) |"
        )


if __name__ == "__main__":
    sys.exit(main())
