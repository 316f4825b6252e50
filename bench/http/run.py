#!/usr/bin/env python3
"""HTTP benchmark: the tutorial's Flask endpoint (`GET /api/data`, keyed by `X-API-Key`) with
no limiter, the tutorial's INCR+EXPIRE pipeline, Flask-Limiter and redis-rl, side by side in
one run. Writes its section of BENCHMARKS.md (between the markers of markers.py).

    bench/http/run.py            the full run (about 10 minutes on 2 cores)
    bench/http/run.py --quick    a smoke run (under a minute): one round, one short pass per
                                 variant, written to build/BENCHMARKS-http-quick.md

Layout: one redis-server 7.0 (the module loaded) and one gunicorn process with one sync
worker, both pinned to core 0; wrk (one thread) pinned to core 1, with bench/http/keys.lua
drawing API keys from hot, warm and cold tiers. For each round and each variant (in an order
that rotates from round to round, since the machine is noisy, with runs of no limiter first,
last and between every 6 variants): FLUSHALL, start the app, warm it up, CONFIG RESETSTAT,
then

  - a throughput pass: 4 connections, so that the worker always has a request waiting
    (requests/s);
  - a latency pass: 1 connection, so that a request never queues behind another (p50, p99,
    and the latency the limiter adds: against the mean of the runs of no limiter just before
    and after, since the load of the machine drifts);

then read INFO commandstats: every command the server ran, divided by the requests wrk
completed in both passes. In the first round the warm-up, and a pass after the measured ones,
run under MONITOR where the app runs Lua scripts, which tells the commands the app sends from
those the scripts run inside the server (commandstats counts both); a command MONITOR never
saw counts as sent. Each figure is the median of the rounds.
"""

import argparse
import os
import shutil
import sys
import time

import markers
from processes import MODULE, ROOT, App, Server, wrk
from redis_commands import Monitor, add_counts, commandstats, runs_scripts, split_commands
from report import per_command, section, set_baselines, summarize
from variants import LIMITERS, VARIANTS, round_order


def log(message):
    print(message, flush=True)


def measure(server, limiter, limits, round_, settings, census, workdir):
    client = server.redis
    client.flushall()
    app = App(limiter, limits, server.url, os.path.join(workdir, "app.log"))
    App.reap()
    variant = (limiter, limits)
    seed = round_ * 10
    try:
        # Under MONITOR, where the app runs scripts: the first round's warm-up (but with
        # --quick, whose warm-up is a few requests), and a pass after the measured ones, keys
        # then in their steady state (windows rolled over, hot keys refused).
        first = variant not in census
        seen = census.setdefault(variant, {})
        if settings["quick"]:
            app.get_many(20)
        else:
            monitor = Monitor(server.port) if first else None
            wrk(app.url, 1, settings["warm"], seed + 1)
            if monitor:
                add_counts(seen, monitor.collect())
        client.config_resetstat()
        passes = [wrk(app.url, 1 if settings["quick"] else 4, settings["seconds"], seed + 2)]
        if not settings["quick"]:
            passes.append(wrk(app.url, 1, settings["seconds"], seed + 3))
            # Requests wrk left queued when it stopped are served by now (a few of thousands).
            time.sleep(0.2)
        stats = commandstats(client)
        if first and runs_scripts(stats):
            monitor = Monitor(server.port)
            wrk(app.url, 1, settings["warm"], seed + 4)
            add_counts(seen, monitor.collect())
    finally:
        app.stop()
    # The driver's own CONFIG RESETSTAT is counted; the INFO that reads them is not.
    stats["config|resetstat"] = stats.get("config|resetstat", 1) - 1
    throughput, latency = passes[0], passes[-1]
    requests = sum(p["requests"] for p in passes)
    sent, inside = split_commands(stats, seen)
    return {
        "rps": throughput["requests"] / (throughput["duration_us"] / 1e6),
        "p50": latency["p50_us"],
        "p99": latency["p99_us"],
        "refused": sum(p["refused"] for p in passes) / requests,
        "requests": requests,
        "sent": {name: n / requests for name, n in sent.items()},
        "inside": {name: n / requests for name, n in inside.items()},
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, 1 with --quick)")
    parser.add_argument(
        "--out",
        help="the Markdown file whose bench-http section is rewritten "
        "(default BENCHMARKS.md, or build/BENCHMARKS-http-quick.md with --quick)",
    )
    args = parser.parse_args()
    default = "build/BENCHMARKS-http-quick.md" if args.quick else "BENCHMARKS.md"
    out = args.out or os.path.join(ROOT, default)
    for tool in ("wrk", "redis-server"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: scripts/install-deps.sh --bench installs it")
    if not os.path.exists(MODULE):
        raise SystemExit("build the module first: make build")
    settings = {
        "quick": args.quick,
        "rounds": args.rounds or (1 if args.quick else 5),
        "warm": 1,
        "seconds": 1 if args.quick else 2,
        "block": len(VARIANTS) if args.quick else 6,
    }
    started = time.time()
    workdir = os.path.join(ROOT, "build", "bench-http")
    server = Server(workdir)
    runs, census = {}, {}
    try:
        for round_ in range(settings["rounds"]):
            results = []
            for variant in round_order(round_, settings["block"]):
                r = measure(server, *variant, round_, settings, census, workdir)
                results.append((variant, r))
                runs.setdefault(variant, []).append(r)
                sent, inside = sum(r["sent"].values()), sum(r["inside"].values())
                log(
                    f"  {round_ + 1} {LIMITERS[variant[0]]:<44} {variant[1]:<18} "
                    f"{r['rps']:6.0f}/s  p50 {r['p50']:5d} µs  p99 {r['p99']:6d} µs  "
                    f"refused {100 * r['refused']:4.1f}%  sent {sent:.2f}  run "
                    f"{sent + inside:.2f}  {per_command(r['sent'])}"
                )
            set_baselines(results)
        version = server.version
    finally:
        App.reap()
        server.stop()
    elapsed = time.time() - started
    body = section(
        summarize({v: runs[v] for v in VARIANTS}), settings, version, elapsed, args.quick
    )
    text = ""
    if os.path.exists(out):
        with open(out) as f:
            text = f.read()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(markers.replace(text, body))
    log(body)
    log(f"wrote {out} in {elapsed:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
