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
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import ClassVar

import redis

import markers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODULE = os.path.join(ROOT, "target", "release", "librl.so")
VENV_BIN = os.path.dirname(sys.executable)
SERVER_CPU, CLIENT_CPU = "0", "1"

ONE, TWO, REFUSING = "10/second", "10/second;1000/day", "1/second"
LIMITERS = {
    "none": "no limiter",
    "incr-expire": "tutorial INCR+EXPIRE pipeline",
    "flask-limiter-moving-window": "Flask-Limiter moving-window",
    "flask-limiter-sliding-window-counter": "Flask-Limiter sliding-window-counter",
    "flask-limiter-headers": "Flask-Limiter moving-window, headers_enabled",
    "redis-rl-module": "redis-rl, module",
    "redis-rl-script": "redis-rl, script (EVALSHA)",
    "redis-rl-function": "redis-rl, script (FCALL)",
}
COMPARED = [
    "incr-expire",
    "flask-limiter-moving-window",
    "flask-limiter-sliding-window-counter",
    "redis-rl-module",
    "redis-rl-script",
    "redis-rl-function",
]
# (limiter, limits): every limiter with 1 and 2 limits, which admit nearly every request;
# Flask-Limiter sending rate-limit headers as redis-rl does, with 2 limits; and three with 1
# per second, which refuses a share of the hot keys' requests.
VARIANTS = [("none", "")]
VARIANTS += [(name, ONE) for name in COMPARED]
VARIANTS += [(name, TWO) for name in COMPARED[:3]]
VARIANTS += [("flask-limiter-headers", TWO)]
VARIANTS += [(name, TWO) for name in COMPARED[3:]]
VARIANTS += [
    (name, REFUSING) for name in ("incr-expire", "flask-limiter-moving-window", "redis-rl-module")
]

# Commands whose commandstats entries are per subcommand ("config|resetstat").
WITH_SUBCOMMANDS = {"client", "config", "script", "function", "command", "cluster", "memory"}


def log(message):
    print(message, flush=True)


def pinned(cpu, argv):
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpu, *argv]
    return argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """redis-server with the module, pinned to the app's core."""

    def __init__(self, workdir):
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        argv = pinned(
            SERVER_CPU,
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                workdir,
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                "server.log",
                "--loadmodule",
                MODULE,
            ],
        )
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.redis = redis.Redis(port=self.port, decode_responses=True)
        deadline = time.time() + 20
        while True:
            try:
                self.redis.ping()
                break
            except redis.ConnectionError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit(
                        f"redis-server did not start; see {workdir}/server.log"
                    ) from None
                time.sleep(0.05)
        self.version = self.redis.info("server")["redis_version"]
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class App:
    """One gunicorn process with one sync worker, pinned to the server's core."""

    stopping: ClassVar[list[subprocess.Popen]] = []

    def __init__(self, limiter, limits, redis_url, logfile):
        self.port = free_port()
        env = dict(
            os.environ, BENCH_LIMITER=limiter, BENCH_LIMITS=limits or ONE, BENCH_REDIS_URL=redis_url
        )
        argv = pinned(
            SERVER_CPU,
            [
                os.path.join(VENV_BIN, "gunicorn"),
                "--workers",
                "1",
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                HERE,
                "--log-level",
                "warning",
                "--error-logfile",
                logfile,
                "apps:app",
            ],
        )
        self.logfile = logfile
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{self.port}/api/data"
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + 30
        while True:
            try:
                self.get("ready")
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"the app did not start; see {self.logfile}") from None
                time.sleep(0.05)

    def get(self, key):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/api/data", headers={"X-API-Key": key})
            status = conn.getresponse().status
        finally:
            conn.close()
        if status != 200:
            raise SystemExit(f"the app answered {status}; see {self.logfile}")

    def get_many(self, count):
        """A warm-up: first connections, scripts loaded, code paths taken once."""
        for i in range(count):
            self.get(f"warm-up-{i}")

    def stop(self):
        """Asks gunicorn to stop (the worker finishes the request in hand, if any) without
        waiting for it: the next app starts meanwhile, and `reap` waits for it."""
        self.proc.send_signal(signal.SIGTERM)
        App.stopping.append(self.proc)

    @staticmethod
    def reap():
        while App.stopping:
            App.stopping.pop().wait(timeout=60)


def wrk(url, connections, seconds, seed):
    argv = pinned(
        CLIENT_CPU,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            os.path.join(HERE, "keys.lua"),
            url,
            "--",
            str(seed),
        ],
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    if result["other"] or errors:
        raise SystemExit(
            f"wrk saw {result['other']} unexpected statuses and {errors} socket "
            f"errors against {url}: {result}"
        )
    return result


class Monitor:
    """MONITOR on its own connection: which commands come from clients, which from scripts."""

    LINE = re.compile(r'^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?')

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.file = self.sock.makefile("rb")
        if self.file.readline().strip() != b"+OK":
            raise SystemExit("MONITOR was refused")

    def collect(self):
        """Counts (command, "client" or "script") until the server has sent everything."""
        counts = {}
        self.sock.settimeout(0.2)
        try:
            for raw in self.file:
                match = self.LINE.match(raw.decode(errors="replace"))
                if not match:
                    continue
                source, name, sub = match.groups()
                name = name.lower()
                if name in WITH_SUBCOMMANDS and sub:
                    name = f"{name}|{sub.lower()}"
                kind = "script" if source == "lua" else "client"
                counts[(name, kind)] = counts.get((name, kind), 0) + 1
        except TimeoutError:
            pass
        self.sock.close()
        return counts


def commandstats(client):
    """{command: calls}, rejected calls included (a command sent and refused is still sent)."""
    return {
        name.removeprefix("cmdstat_"): int(entry["calls"]) + int(entry.get("rejected_calls", 0))
        for name, entry in client.info("commandstats").items()
    }


# What runs Lua inside the server: only these can make commands run that the app did not send.
SCRIPT_COMMANDS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}


def runs_scripts(stats):
    return any(stats.get(name, 0) for name in SCRIPT_COMMANDS)


def split_commands(stats, census):
    """Per command, the calls the app sent and those scripts ran, in the proportion MONITOR
    saw them; a command MONITOR never saw counts as sent, and without scripts all are."""
    sent, inside = {}, {}
    scripts = runs_scripts(stats)
    for name, calls in stats.items():
        by_client = census.get((name, "client"), 0)
        by_script = census.get((name, "script"), 0) if scripts else 0
        share = by_client / (by_client + by_script) if by_client + by_script else 1.0
        if calls * share:
            sent[name] = calls * share
        if calls * (1 - share):
            inside[name] = calls * (1 - share)
    return sent, inside


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


def add_counts(total, counts):
    for key, n in counts.items():
        total[key] = total.get(key, 0) + n


NONE = ("none", "")


def round_order(round_, block):
    """The variants in an order that rotates from round to round, with no limiter first, last
    and after every `block` of them: the machine's load drifts, and each variant's latency is
    compared with the runs of no limiter just before and just after it."""
    others = [v for v in VARIANTS if v != NONE]
    shift = round_ * 5 % len(others)
    others = others[shift:] + others[:shift]
    order = []
    for start in range(0, len(others), block):
        order += [NONE, *others[start : start + block]]
    return [*order, NONE]


def set_baselines(results):
    """Each run's base_p50 and base_p99: the mean of the runs of no limiter around it."""
    nones = [i for i, (v, _) in enumerate(results) if v == NONE]
    for i, (variant, r) in enumerate(results):
        before = max(j for j in nones if j <= i)
        after = min(j for j in nones if j >= i)
        for key in ("p50", "p99"):
            r["base_" + key] = (results[before][1][key] + results[after][1][key]) / 2
        if variant == NONE:
            r["base_p50"], r["base_p99"] = r["p50"], r["p99"]


def summarize(runs):
    """Medians over the rounds; the latency added is each run's own (against the runs of no
    limiter around it), and its median."""
    rows = []
    for variant, samples in runs.items():

        def pick(f, samples=samples):
            return statistics.median(f(s) for s in samples)

        def added(key, samples=samples):
            return statistics.median(s[key] - s["base_" + key] for s in samples)

        def by_name(part, samples=samples):
            names = {n for s in samples for n in s[part]}
            return {n: statistics.median(s[part].get(n, 0.0) for s in samples) for n in names}

        rows.append(
            {
                "variant": variant,
                "rps": pick(lambda s: s["rps"]),
                "p50": pick(lambda s: s["p50"]),
                "p99": pick(lambda s: s["p99"]),
                "added_p50": added("p50"),
                "added_p50_runs": [s["p50"] - s["base_p50"] for s in samples],
                "p50_runs": [s["p50"] for s in samples],
                "added_p99": added("p99"),
                "refused": pick(lambda s: s["refused"]),
                "sent": pick(lambda s: sum(s["sent"].values())),
                "run": pick(lambda s: sum(s["sent"].values()) + sum(s["inside"].values())),
                "sent_by_name": by_name("sent"),
                "inside_by_name": by_name("inside"),
            }
        )
    return rows


def label(variant):
    limiter, limits = variant
    if limiter == "none":
        return LIMITERS[limiter], "none"
    return LIMITERS[limiter], f"{len(limits.split(';'))} ({limits})"


def main_table(rows):
    lines = [
        "| limiter | limits | refused | requests/s | p50 µs | p99 µs | added p50 µs | "
        "added p99 µs | commands sent / request | commands run / request |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name, limits = label(r["variant"])
        base = r["variant"][0] == "none"
        added = "| |" if base else f"{r['added_p50']:+.0f} | {r['added_p99']:+.0f} |"
        lines.append(
            f"| {name} | {limits} | {100 * r['refused']:.1f}% | {r['rps']:.0f} | "
            f"{r['p50']:.0f} | {r['p99']:.0f} | {added} {r['sent']:.2f} | {r['run']:.2f} |"
        )
    return "\n".join(lines)


def per_command(by_name):
    items = sorted(((n, v) for n, v in by_name.items() if v >= 0.005), key=lambda x: (-x[1], x[0]))
    return ", ".join(f"{n.upper()} {v:.2f}" for n, v in items) or "none"


def commands_table(rows):
    lines = [
        "| limiter | limits | sent by the app, per request | run inside scripts, per request |",
        "|---|---|---|---|",
    ]
    for r in rows:
        if r["variant"][0] != "none":
            name, limits = label(r["variant"])
            sent, inside = per_command(r["sent_by_name"]), per_command(r["inside_by_name"])
            lines.append(f"| {name} | {limits} | {sent} | {inside} |")
    return "\n".join(lines)


def goals(rows):
    """The package's two goals, stated against the figures (they are not assertions)."""
    by = {r["variant"]: r for r in rows}
    ours = [v for v in by if v[0].startswith("redis-rl") and v[1] in (ONE, TWO)]
    sent = sorted(by[v]["sent"] for v in ours)
    low, high = f"{sent[0]:.3f}", f"{sent[-1]:.3f}"
    spread = low if low == high else f"from {low} to {high}"
    met = all(abs(n - 1) < 0.005 for n in sent)
    lines = [
        f"- **One Redis command per request, however many limits**: {'met' if met else 'not met'}"
        f". redis-rl sent {spread} commands per request in its {len(ours)} variants with 1 and "
        "2 limits: one RL.HIT or RL.MHIT, or one EVALSHA or FCALL, whose script runs more "
        "commands inside the server in the same round trip. (Above 1.000: the requests in flight "
        "or queued when a pass stops, which the app serves and Redis counts, wrk not.)",
    ]
    flask = [by[(n, TWO)] for n in COMPARED if n.startswith("flask-limiter") and (n, TWO) in by]
    if flask:
        least = min(flask, key=lambda r: r["added_p50"])
        parts = []
        for backend in ("redis-rl-module", "redis-rl-script", "redis-rl-function"):
            r = by.get((backend, TWO))
            if r is None or least["added_p50"] <= 0:
                continue
            ratio = r["added_p50"] / least["added_p50"]
            rounds = [
                a / b
                for a, b in zip(r["added_p50_runs"], least["added_p50_runs"], strict=True)
                if b > 0
            ]
            by_round = (
                f", from {min(rounds):.2f} to {max(rounds):.2f} round by round"
                if len(rounds) > 1
                else ""
            )
            verdict = "met" if ratio <= 0.5 else "not met"
            parts.append(
                f"{LIMITERS[backend]} {r['added_p50']:+.0f} µs ({ratio:.2f} of it{by_round}: "
                f"{verdict})"
            )
        lines.append(
            "- **Added p50 latency at most half of Flask-Limiter's, with 2 limits**: the least "
            f"Flask-Limiter adds is {least['added_p50']:+.0f} µs ({LIMITERS[least['variant'][0]]})"
            f"; {'; '.join(parts) or 'not measurable (Flask-Limiter added nothing)'}."
        )
    return "\n".join(lines)


def noise(rows):
    """How much the same thing moved from run to run on this machine."""
    none = next(r for r in rows if r["variant"] == NONE)
    runs = none["p50_runs"]
    return (
        f"The machine is shared with other work: the p50 of no limiter alone ranged from "
        f"{min(runs):.0f} to {max(runs):.0f} µs over its {len(runs)} runs, so differences of a "
        "few tens of µs between rows are within the noise; p99 more so."
    )


def versions():
    names = ["flask", "werkzeug", "gunicorn", "flask-limiter", "limits", "redis", "redis-rl"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (missing)")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    return ", ".join(found) + (f", wrk {wrk_version[1]}" if len(wrk_version) > 1 else "")


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count() or 0} cores, {platform.platform()}"


def section(rows, settings, version, elapsed, quick):
    seconds, rounds = settings["seconds"], settings["rounds"]
    command = "bench/http/run.py" + (" --quick" if quick else "")
    if quick:
        passes = f"one pass of {seconds} s with 1 connection (requests/s and latency from it)"
        method = "one round; the app warmed up with 20 requests"
    else:
        passes = (
            f"a throughput pass of {seconds} s with 4 connections (requests/s), then a latency "
            f"pass of {seconds} s with 1 connection (p50, p99)"
        )
        method = (
            f"{rounds} rounds, interleaved in an order that rotates, medians; the app warmed up "
            f"for {settings['warm']} s"
        )
    today = datetime.date.today().isoformat()
    return "\n".join(
        [
            "## HTTP: the tutorial's Flask endpoint under each limiter",
            "",
            f"Run on {today} with `{command}` (`make bench-http{' QUICK=1' if quick else ''}`), "
            f"{elapsed:.0f} s.",
            "",
            "- `GET /api/data` keyed by `X-API-Key` (bench/http/apps.py), served by gunicorn with "
            f"one sync worker; Redis {version} with the module, one process; both pinned to core "
            f"{SERVER_CPU}. wrk, one thread, pinned to core {CLIENT_CPU}; its keys "
            "(bench/http/keys.lua): 20% of requests from 100 hot keys, 30% from 10,000 warm "
            "ones, 50% from 1,000,000 cold ones",
            f"- per variant {passes}; the database emptied and the app started afresh for every "
            f"variant; {method}",
            "- added latency: a run's p50 (p99) minus the mean of those of the runs of no limiter "
            "just before and after it (no limiter runs first, last and between every "
            f"{settings['block']} variants), median over the rounds; "
            "commands: INFO commandstats over the measured passes, divided by the requests wrk "
            "completed, split by MONITOR into those the app sent and those Lua scripts ran "
            "inside the server (MULTI and EXEC count as commands)",
            "- every limiter as its documentation shows it, with its defaults: redis-rl sends the "
            "RateLimit fields, Flask-Limiter (`headers_enabled` off) sends none, with "
            "`headers_enabled=True` it asks Redis for the window again; the tutorial's pipeline "
            "is a MULTI/EXEC transaction (redis-py's default), it asks TTL when it refuses, and "
            "each of its requests, refused ones too, pushes the key's expiry forward",
            f"- {versions()}; machine: {machine()}",
            "",
            main_table(rows),
            "",
            noise(rows),
            "",
            "Goals, against these figures:",
            "",
            goals(rows),
            "",
            "What each limiter asks of Redis:",
            "",
            commands_table(rows),
            "",
        ]
    )


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
