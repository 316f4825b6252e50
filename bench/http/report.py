"""The HTTP benchmark's section of BENCHMARKS.md: medians over the rounds, the tables, and
the package's goals stated against the figures."""

import datetime
import importlib.metadata
import os
import platform
import statistics
import subprocess

from processes import CLIENT_CPU, SERVER_CPU
from variants import COMPARED, LIMITERS, NONE, ONE, TWO


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
