#!/usr/bin/env python3
"""The script fallback's server time beside the module's, for the common requests, ALGO LOG and
RL.ACQUIRE.

    build/venv/bin/python bench/fallback.py               (about three minutes; prints a table)
    build/venv/bin/python bench/fallback.py --before REV  (about five: adds the fallback of the
                                                           rl.lua of git revision REV)

One redis-server with the module, pinned to one core, redis-benchmark (50 connections,
pipeline 1) on the other, as bench/bench.py runs them. For each request: the module's, then
the same request through the Python package's Lua fallback as a script (EVALSHA) and as a
function (FCALL), and with --before the same two forms of an older rl.lua, so that a change to
the fallback is measured against the code before it in one run. Server time per call is INFO
commandstats usec_per_call (the fallback's: of EVALSHA or FCALL, the whole script); the median
of the rounds.

- the common requests, on 1,000 random keys: RL.PEEK of keys that do not exist, RL.HIT with
  SLIDING (10 per second and 1,000 per day), FIXED and TOKEN, and RL.MHIT with two limits
  (10 per second and 1,000 per day);
- RL.HIT SLIDING and ALGO LOG on 1,000 random keys, limits 10 and 1,000 per 60 s: the keys
  fill up, and then most requests are denied (a denied LOG request walks the entries that must
  age out before it fits);
- RL.ACQUIRE with 10 and 1,000 leases held under each key (planted first): the benchmarked
  request takes the lease of its own id again, so every call is granted and writes the key.

The machine's other work moves these figures (the module's as well): compare the columns of
one run, not runs.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # the pinned server, redis-benchmark and commandstats helpers

sys.path.insert(0, os.path.join(bench.ROOT, "python", "src"))
from redis_rl import scripts  # run with the venv's Python

ROUNDS = 3
REQUESTS = 20_000
LOG_KEYS = 1_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forms(command, keys, args, before):
    """The request through the module, EVALSHA and FCALL, and the older fallback's if any:
    (form, argv, commandstats name)."""
    n = str(len(keys))
    module = [command, *keys, *args] if command != "RL.MHIT" else [command, n, *keys, *args]
    rows = [("module", module, command.lower())]
    for suffix, assembly in (("", scripts.assemble(scripts.CORE)), (" before", before)):
        if assembly:
            rows += [
                ("EVALSHA" + suffix, ["EVALSHA", assembly.script_sha, n, *keys, command, *args],
                 "evalsha"),
                ("FCALL" + suffix, ["FCALL", assembly.functions[command], n, *keys, *args],
                 "fcall"),
            ]
    return rows


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


def older(revision):
    """The fallback assembled from the rl.lua of a git revision."""
    path = "python/src/redis_rl/lua/rl.lua"
    core = subprocess.run(["git", "-C", bench.ROOT, "show", f"{revision}:{path}"],
                          capture_output=True, text=True, check=True).stdout
    return scripts.assemble(core)


def cases():
    """(label, command, key names, arguments, leases held or None)."""
    one = ["%s:__rand_int__"]
    rows = [
        ("RL.PEEK, 10/1s, no key", "RL.PEEK", one, ["10", "1"], None),
        ("RL.HIT SLIDING, 10/1s", "RL.HIT", one, ["10", "1"], None),
        ("RL.HIT SLIDING, 1000/1d", "RL.HIT", one, ["1000", "1d"], None),
        ("RL.HIT FIXED, 10/1s", "RL.HIT", one, ["10", "1", "ALGO", "FIXED"], None),
        ("RL.HIT TOKEN, 10/1s", "RL.HIT", one, ["10", "1", "ALGO", "TOKEN"], None),
        ("RL.MHIT, 10/1s and 1000/1d", "RL.MHIT", ["%s:__rand_int__:a", "%s:__rand_int__:b"],
         ["LIMIT", "10", "1", "LIMIT", "1000", "1d"], None),
    ]
    for limit in (10, 1_000):
        for algo in ("SLIDING", "LOG"):
            label = f"RL.HIT {algo}, {limit}/60s"
            rows.append((label, "RL.HIT", one, [str(limit), "60", "ALGO", algo], None))
    for held in (10, 1_000):
        label = f"RL.ACQUIRE, {held} leases held"
        rows.append((label, "RL.ACQUIRE", one, [str(held), "3600", "ID", "bench"], held))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", metavar="REV", help="also the fallback of this git revision")
    options = parser.parse_args()
    before = older(options.before) if options.before else None
    columns = ["module", "EVALSHA", "FCALL"]
    if before:
        columns += ["EVALSHA before", "FCALL before"]
    # Stopped from outside, the server stops too (see the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    bench.PORT = free_port()
    workdir = os.path.join(bench.ROOT, "build", "bench-fallback")
    server = bench.Server(workdir)
    redis = server.redis
    rows = []
    try:
        for assembly in (scripts.assemble(scripts.CORE), before):
            if assembly:
                redis.call("SCRIPT", "LOAD", assembly.script)
                redis.call("FUNCTION", "LOAD", "REPLACE", assembly.library)
        samples = {}
        for round_ in range(ROUNDS):
            for label, command, keys, args, held in cases():
                redis.call("FLUSHALL")
                count = LOG_KEYS if held is None else max(10, 100_000 // held)
                if held is not None:
                    plant_leases(redis, held, count)
                for form, argv, stat in forms(command, keys, args, before):
                    prefix = "m" if form == "module" else "s"
                    if held is None:
                        prefix = form.replace(" ", "-")  # each form on keys of its own
                    argv = [a.replace("%s", prefix) if "%s" in a else a for a in argv]
                    # The fallback reads every lease of the key per call: fewer of those.
                    requests = REQUESTS if (held or 0) < 1_000 else REQUESTS // 20
                    usec = measure(redis, argv, stat, count, requests)
                    samples.setdefault((label, form), []).append(usec)
                    bench.log(f"   {round_ + 1} {label:32} {form:14} {usec:8.2f} us/call")
        for label, *_ in cases():
            rows.append([label] + [statistics.median(samples[(label, f)]) for f in columns])
        version = server.version
    finally:
        server.stop()
    print()
    print(
        f"Redis {version}, median of {ROUNDS} rounds of {REQUESTS} requests "
        f"({REQUESTS // 20} with 1,000 leases held; redis-benchmark, 50 connections, "
        "pipeline 1), server us per call:"
    )
    if before:
        print(f"('before': the fallback of {options.before})")
    print()
    print("| request | " + " | ".join(f"fallback, {c}" if c != "module" else c for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label, module, *fallback in rows:
        cells = [f"{module:.2f}"] + [f"{x:.2f} ({x / module:.1f}x)" for x in fallback]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
