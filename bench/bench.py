#!/usr/bin/env python3
"""Side-by-side benchmark of the module against the ways rate limiting is done today.

One redis-server, pinned to one core, the client (redis-benchmark) to another. Every
approach runs in the same server process, so every figure has a ratio to `SET ... PX` from
the same run. Writes BENCHMARKS.md.

    bench/bench.py            the full run (under 10 minutes on 2 cores)
    bench/bench.py --quick    a smoke run (under 1 minute): fewer requests, no 10M-key scale,
                              written to build/BENCHMARKS-quick.md

Figures per approach:
  - server time per call: INFO commandstats usec_per_call, over every run of the approach;
  - throughput with 50 clients at pipeline 1 and 32 (redis-benchmark), and latency p50/p99
    at pipeline 1;
  - memory per limited key: used_memory growth divided by the keys created, expiry included.
"""

import argparse
import datetime
import os
import platform
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# make bench-http writes a section of its own into the same file; it is kept as it is.
sys.path.insert(0, os.path.join(ROOT, "bench", "http"))
import markers  # noqa: E402
MODULE = os.path.join(ROOT, "target", "release", "librl.so")
LUA = os.path.join(ROOT, "bench", "lua")
PORT = 7399
SERVER_CPU, CLIENT_CPU = "0", "1"


def log(message):
    print(message, flush=True)


class Redis:
    """A minimal RESP client for the benchmark's own bookkeeping."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data.decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)

    def info(self, section):
        fields = {}
        for line in self.call("INFO", section).splitlines():
            if ":" in line and not line.startswith("#"):
                name, value = line.split(":", 1)
                fields[name] = value
        return fields


def pinned(cpu, argv):
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1:
        return ["taskset", "-c", cpu] + argv
    return argv


class Server:
    def __init__(self, workdir):
        os.makedirs(workdir, exist_ok=True)
        argv = pinned(SERVER_CPU, [
            "redis-server", "--port", str(PORT), "--bind", "127.0.0.1", "--dir", workdir,
            "--save", "", "--appendonly", "no", "--auto-aof-rewrite-percentage", "0",
            "--enable-debug-command", "yes",
            "--logfile", "server.log", "--loadmodule", MODULE, "cell-compat", "yes",
            # ALGO LOG at the scales' limit of 1,000,000 per 60 s may need 60,000 entries, more
            # than rl.log-max-entries' default allows.
            "log-max-entries", "100000",
        ])
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                self.redis = Redis(PORT)
                self.redis.call("PING")
                break
            except (OSError, RuntimeError):
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit("redis-server did not start; see %s/server.log" % workdir)
                time.sleep(0.05)
        self.version = self.redis.info("server").get("redis_version", "?")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def load_scripts(redis):
    shas = {}
    for name in ("gcra", "sliding_counter", "sliding_log"):
        with open(os.path.join(LUA, name + ".lua")) as f:
            shas[name] = redis.call("SCRIPT", "LOAD", f.read())
    # The Python package's script fallback, in both of its forms.
    sys.path.insert(0, os.path.join(ROOT, "python", "src"))
    from redis_rl import scripts  # noqa: E402 (needs the venv: make bench runs it there)

    shas["fallback"] = redis.call("SCRIPT", "LOAD", scripts.SCRIPT)
    redis.call("FUNCTION", "LOAD", "REPLACE", scripts.LIBRARY)
    shas["fallback function"] = scripts.FUNCTIONS["RL.HIT"]
    return shas


def approaches(shas, limit, window_s):
    """(name, command for redis-benchmark, commandstats entries, keys written per call).

    Each approach has a key prefix of its own (a0:, a1:, ...), so that approaches never meet
    on a key even when the database is not emptied between them; RL.PEEK reads the keys of
    RL.HIT SLIDING and EXPIRE those of INCR, the approaches run just before them.
    """
    w = str(window_s)
    w_ms = str(window_s * 1000)
    lim = str(limit)
    rows = []

    def add(name, make, stats, keys_per_call, prefix=None):
        k = (prefix or "a%d" % len(rows)) + ":__rand_int__"
        rows.append((name, make(k), stats, keys_per_call))

    add("INCR", lambda k: ["INCR", k], ["incr"], 1)
    add("EXPIRE (half of INCR+EXPIRE)", lambda k: ["EXPIRE", k, w], ["expire"], 0, prefix="a0")
    add("SET ... PX", lambda k: ["SET", k, "1", "PX", w_ms], ["set"], 1)
    sliding = "a%d" % len(rows)
    add("RL.HIT SLIDING", lambda k: ["RL.HIT", k, lim, w], ["rl.hit"], 1)
    add("RL.PEEK (existing keys)", lambda k: ["RL.PEEK", k, lim, w], ["rl.peek"], 0, prefix=sliding)
    for algo in ("FIXED", "TOKEN", "LEAKY", "GCRA", "LOG"):
        add("RL.HIT " + algo, lambda k, a=algo: ["RL.HIT", k, lim, w, "ALGO", a], ["rl.hit"], 1)
    add("RL.MHIT, 2 limits",
        lambda k: ["RL.MHIT", "2", "{%s}:s" % k, "{%s}:h" % k, "LIMIT", lim, w, "LIMIT", lim, "1h"],
        ["rl.mhit"], 2)
    add("RL.MHIT, 8 limits",
        lambda k: ["RL.MHIT", "8"] + ["{%s}:%d" % (k, i) for i in range(8)] + ["LIMIT", lim, w] * 8,
        ["rl.mhit"], 8)
    add("CL.THROTTLE", lambda k: ["CL.THROTTLE", k, str(max(limit - 1, 0)), lim, w], ["cl.throttle"], 1)
    add("redis-rl script fallback (EVALSHA)",
        lambda k: ["EVALSHA", shas["fallback"], "1", k, "RL.HIT", lim, w], ["evalsha"], 1)
    add("redis-rl script fallback (FCALL)",
        lambda k: ["FCALL", shas["fallback function"], "1", k, lim, w], ["fcall"], 1)
    for name, script in (("Lua GCRA (EVALSHA)", "gcra"),
                         ("Lua sliding counter (EVALSHA)", "sliding_counter"),
                         ("Lua sliding log, sorted set (EVALSHA)", "sliding_log")):
        add(name, lambda k, sha=shas[script]: ["EVALSHA", sha, "1", k, lim, w_ms], ["evalsha"], 1)
    return rows


def benchmark(command, keyspace, requests, pipeline):
    argv = pinned(CLIENT_CPU, [
        "redis-benchmark", "-p", str(PORT), "-c", "50", "-n", str(requests),
        "-P", str(pipeline), "-r", str(keyspace), "--csv",
    ] + command)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    row = [c.strip('"') for c in out.strip().splitlines()[-1].split(",")]
    # test, rps, avg, min, p50, p95, p99, max (latencies in ms)
    return {"rps": float(row[1]), "p50": float(row[4]), "p99": float(row[6])}


def usec_per_call(redis, commands):
    stats = redis.info("commandstats")
    calls = usec = 0
    for name in commands:
        entry = stats.get("cmdstat_" + name)
        if entry:
            fields = dict(kv.split("=") for kv in entry.split(","))
            calls += int(fields["calls"])
            usec += float(fields["usec"])
    return usec / calls if calls else float("nan")


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def run_config(server, shas, label, keyspace, limit, n1, p32_seconds, filler, rounds, only=None):
    """Every approach (or those named in `only`), `rounds` times over, interleaved so that a
    slow moment of the machine does not fall on one approach only. Each figure is the median
    of the rounds, and each ratio the median of the rounds' ratios to that round's SET ... PX."""
    log("== %s: keyspace %d, limit %d%s, %d round(s)" % (
        label, keyspace, limit, ", %d filler keys" % filler if filler else "", rounds))
    redis = server.redis
    runs = {}
    for round_ in range(rounds):
        redis.call("FLUSHALL")
        if filler:
            # Populated once per round; the approaches' own prefixes keep them apart.
            redis.call("DEBUG", "POPULATE", filler, "filler")
        for name, command, stats, _ in approaches(shas, limit, 60):
            if only and name not in only:
                continue
            # Small keyspaces start from an empty database for every approach (but the two that
            # read the previous approach's keys); the large one keeps its filler keys.
            if not filler and not name.startswith(("RL.PEEK", "EXPIRE")):
                redis.call("FLUSHALL")
            redis.call("CONFIG", "RESETSTAT")
            p1 = benchmark(command, keyspace, n1, 1)
            # About `p32_seconds` of server work at pipeline 32, whatever the approach costs:
            # the slow ones would otherwise take most of the run.
            per_call = usec_per_call(redis, stats) * 1e-6 * 1.3
            requests = int(min(max(p32_seconds / per_call, 20_000), 3_000_000))
            p32 = benchmark(command, keyspace, requests, 32)
            usec = usec_per_call(redis, stats)
            runs.setdefault(name, []).append((usec, p1, p32))
            log("   %d %-40s %6.2f us/call  %9.0f/s P1  %9.0f/s P32  p50 %.3f ms  p99 %.3f ms"
                % (round_ + 1, name, usec, p1["rps"], p32["rps"], p1["p50"], p1["p99"]))
    base = runs["SET ... PX"]
    results = []
    for name, samples in runs.items():
        pick = lambda f: median([f(s) for s in samples])
        ratios = lambda f: median([f(s) / f(b) for s, b in zip(samples, base)])
        results.append({
            "name": name,
            "usec": pick(lambda s: s[0]),
            "usec_ratio": ratios(lambda s: s[0]),
            "p1": {k: pick(lambda s: s[1][k]) for k in ("rps", "p50", "p99")},
            "p32": {k: pick(lambda s: s[2][k]) for k in ("rps", "p50", "p99")},
            "p32_ratio": ratios(lambda s: s[2]["rps"]),
            "samples": samples,
            "base": base,
        })
    return results


def with_aof(server, shas):
    """The main comparison again with the AOF on (appendfsync everysec): effects are now built
    and written, as SET's are."""
    redis = server.redis
    redis.call("CONFIG", "SET", "appendonly", "yes")
    while True:
        persistence = redis.info("persistence")
        if persistence.get("aof_rewrite_in_progress") == "0" and \
                persistence.get("aof_rewrite_scheduled") == "0":
            break
        time.sleep(0.1)
    try:
        only = {"SET ... PX", "RL.HIT SLIDING", "RL.HIT FIXED", "RL.HIT GCRA",
                "RL.MHIT, 2 limits", "CL.THROTTLE", "Lua GCRA (EVALSHA)"}
        return run_config(server, shas, "With the AOF on", 1_000_000, 100, 30_000, 0.5, 0, 3,
                          only)
    finally:
        redis.call("CONFIG", "SET", "appendonly", "no")


def log_against_lua(server, shas, limit, rounds, n1, seconds):
    """ALGO LOG beside the Lua sliding log in a sorted set, over 1,000 keys that fill their
    logs (limit 10: every key full; limit 1,000: logs of hundreds of entries)."""
    only = {"SET ... PX", "RL.HIT SLIDING", "RL.HIT LOG", "Lua sliding log, sorted set (EVALSHA)"}
    return run_config(server, shas, "ALGO LOG and the Lua sorted-set log, limit %d" % limit,
                      1_000, limit, n1, seconds, 0, rounds, only)


def log_state(entries, now_ms, window_ms):
    """An ALGO LOG state of `entries` entries a millisecond apart, the newest at `now_ms`, in
    the module's byte form (core/src/codec.rs): what that many requests leave."""
    header = [window_ms * 1000, now_ms * 1000, now_ms - entries + 1, entries]
    body = b"\x01" + b"\x03" * (entries - 1)  # distance 0 then 1 ms, each of cost 1
    return b"\x02\x04" + b"".join(v.to_bytes(8, "little") for v in header) + body


def log_memory(server, counts):
    """Bytes per key of an ALGO LOG key and of a Lua sorted-set log holding the same requests,
    one a millisecond, at several lengths. Planted directly (RL.SETSTATE, ZADD), since a
    benchmark client sends many requests in one millisecond, which a log would merge."""
    log("== memory of a log, by requests held")
    redis = server.redis
    rows = []
    for entries, keys in counts:
        now_ms = int(time.time() * 1000)
        for name in ("RL.HIT LOG", "Lua sliding log, sorted set"):
            redis.call("FLUSHALL")
            time.sleep(0.2)
            before = int(redis.info("memory")["used_memory"])
            if name == "RL.HIT LOG":
                state = log_state(entries, now_ms, 86_400_000)
                commands = ([b"RL.SETSTATE", b"log:%08d" % i, state] for i in range(keys))
            else:
                def zadd(i):
                    pairs = []
                    for j in range(entries):
                        t = (now_ms - entries + 1 + j) * 1000
                        pairs += [str(t).encode(), b"%d-%d" % (t, j)]
                    return [b"ZADD", b"zlog:%08d" % i] + pairs
                commands = (zadd(i) for i in range(keys))
            pipe_commands(commands)
            created = redis.call("DBSIZE")
            if name != "RL.HIT LOG":
                pipe_commands([b"PEXPIRE", b"zlog:%08d" % i, b"86400000"] for i in range(keys))
            after = int(redis.info("memory")["used_memory"])
            per_key = (after - before) / max(created, 1)
            rows.append((name, entries, created, per_key))
            log("   %-30s %5d entries %7d keys  %8.1f bytes/key" % (name, entries, created, per_key))
    redis.call("FLUSHALL")
    return rows


def log_memory_table(rows):
    lines = ["| approach | requests held | keys | bytes/key | bytes/request |",
             "|---|---:|---:|---:|---:|"]
    for name, entries, keys, per_key in rows:
        lines.append("| %s | %d | %d | %.0f | %.1f |" % (name, entries, keys, per_key,
                                                        per_key / entries))
    return "\n".join(lines)


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def pipe_commands(commands):
    """Sends every command through redis-cli --pipe, as fast as the server takes them."""
    argv = pinned(CLIENT_CPU, ["redis-cli", "-p", str(PORT), "--pipe"])
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    batch = []
    for command in commands:
        batch.append(resp(command))
        if len(batch) == 10_000:
            proc.stdin.write(b"".join(batch))
            batch = []
    proc.stdin.write(b"".join(batch))
    proc.stdin.close()
    proc.wait()


def memory_per_key(server, shas, keys, limit):
    """Creates `keys` keys with each approach, one name after the other, and divides the growth
    of used_memory by the keys created. A one-day window, so that no key expires while it is
    measured (a bucket holding one unit of 100 per minute would be empty again 0.6 s later)."""
    log("== memory per limited key: %d keys, limit %d per day" % (keys, limit))
    redis = server.redis
    rows = []
    for name, command, _, keys_per_call in approaches(shas, limit, 86_400):
        if keys_per_call == 0:
            continue
        redis.call("FLUSHALL")
        time.sleep(0.2)
        before = int(redis.info("memory")["used_memory"])
        calls = keys // keys_per_call
        pipe_commands([a.replace("__rand_int__", "%012d" % i) for a in command]
                      for i in range(calls))
        created = redis.call("DBSIZE")
        after = int(redis.info("memory")["used_memory"])
        per_key = (after - before) / max(created, 1)
        rows.append((name, created, per_key))
        log("   %-40s %8d keys  %6.1f bytes/key" % (name, created, per_key))
    return rows


def ratio(value, base):
    return value / base if base else float("nan")


def table(results):
    by_name = {r["name"]: r for r in results}
    lines = [
        "| approach | server µs/call | x SET PX | ops/s P=1 | ops/s P=32 | x SET PX | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r["name"].startswith("EXPIRE"):
            continue
        lines.append("| %s | %.2f | %.2f | %.0f | %.0f | %.2f | %.3f | %.3f |" % (
            r["name"], r["usec"], r["usec_ratio"], r["p1"]["rps"], r["p32"]["rps"],
            r["p32_ratio"], r["p1"]["p50"], r["p1"]["p99"]))
    incr, expire = by_name.get("INCR"), by_name.get("EXPIRE (half of INCR+EXPIRE)")
    if incr and expire:
        # The INCR+EXPIRE pipeline is two commands per decision, which redis-benchmark cannot
        # send: its server time is the sum of both, its pipelined (server-bound) throughput
        # the two commands' rates combined; its round-trip figures cannot be derived.
        combined = lambda a, b: 1 / (1 / a + 1 / b)
        pairs = list(zip(incr["samples"], expire["samples"], incr["base"]))
        usec = median([i[0] + e[0] for i, e, _ in pairs])
        usec_ratio = median([(i[0] + e[0]) / b[0] for i, e, b in pairs])
        rps = median([combined(i[2]["rps"], e[2]["rps"]) for i, e, _ in pairs])
        rps_ratio = median([combined(i[2]["rps"], e[2]["rps"]) / b[2]["rps"] for i, e, b in pairs])
        lines.append("| INCR+EXPIRE pipeline (2 commands, derived) | %.2f | %.2f | | %.0f | %.2f | | |"
                     % (usec, usec_ratio, rps, rps_ratio))
    return "\n".join(lines)


def memory_table(rows):
    base = dict((n, b) for n, _, b in rows)["SET ... PX"]
    lines = ["| approach | keys | bytes/key | x SET PX |", "|---|---:|---:|---:|"]
    for name, keys, per_key in rows:
        lines.append("| %s | %d | %.0f | %.2f |" % (name, keys, per_key, ratio(per_key, base)))
    return "\n".join(lines)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, %s" % (cpu, os.cpu_count() or 0, platform.platform())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    parser.add_argument("--out", help="where to write the results (default: BENCHMARKS.md, "
                        "or build/BENCHMARKS-quick.md with --quick)")
    args = parser.parse_args()
    if not args.out:
        args.out = os.path.join(ROOT, "build", "BENCHMARKS-quick.md") if args.quick else \
            os.path.join(ROOT, "BENCHMARKS.md")
    if not os.path.exists(MODULE):
        raise SystemExit("build the module first: make build")
    started = time.time()
    workdir = os.path.join(ROOT, "build", "bench")
    server = Server(workdir)
    try:
        shas = load_scripts(server.redis)
        # (title, keyspace, limit, requests at P=1, seconds of work at P=32, filler keys,
        #  rounds)
        if args.quick:
            configs = [("Random keys over 1,000,000", 1_000_000, 100, 20_000, 0.2, 0, 1)]
            memory_keys = 100_000
        else:
            configs = [
                ("Random keys over 1,000,000", 1_000_000, 100, 60_000, 1.0, 0, 5),
                ("10,000 live keys, limit 10", 10_000, 10, 60_000, 1.0, 0, 2),
                ("10,000 live keys, limit 1,000,000", 10_000, 1_000_000, 60_000, 1.0, 0, 2),
                # 10M filler keys size the main table at 2^24 slots; at about half a second
                # of work per approach the database stays below that, so no approach pays
                # for a rehash of it.
                ("10,000,000 live keys, limit 1,000,000", 10_000_000, 1_000_000, 30_000, 0.5,
                 10_000_000, 2),
            ]
            # One million keys: the hash tables then have 2^20 slots each. One more key than
            # that and both double, and every approach shows 30 bytes more per key.
            memory_keys = 1_000_000
        sections = []
        for label, keyspace, limit, n1, seconds, filler, rounds in configs:
            results = run_config(server, shas, label, keyspace, limit, n1, seconds, filler, rounds)
            sections.append((label, keyspace, limit, filler, rounds, table(results)))
        log_rounds = (1, 10_000, 0.2) if args.quick else (2, 60_000, 1.0)
        for limit in (10, 1_000):
            rounds, n1, seconds = log_rounds
            results = log_against_lua(server, shas, limit, rounds, n1, seconds)
            sections.append(("ALGO LOG and the Lua sorted-set log, limit %d" % limit, 1_000,
                             limit, 0, rounds, table(results)))
        if not args.quick:
            aof = with_aof(server, shas)
            sections.append(("With the AOF on", 1_000_000, 100, 0, 3, table(aof)))
        memory = memory_table(memory_per_key(server, shas, memory_keys, 100))
        log_counts = [(10, 2_000), (100, 2_000), (1_000, 200)] if args.quick else \
            [(10, 20_000), (100, 10_000), (1_000, 2_000)]
        log_memory_rows = log_memory_table(log_memory(server, log_counts))
        version = server.version
    finally:
        server.stop()
        shutil.rmtree(os.path.join(workdir, "appendonlydir"), ignore_errors=True)
    elapsed = time.time() - started
    command = "bench/bench.py" + (" --quick" if args.quick else "")
    doc = [
        "# Benchmarks",
        "",
        "Run on %s with `%s` (`make bench%s`), %.0f s." % (
            datetime.date.today().isoformat(), command, " QUICK=1" if args.quick else "", elapsed),
        "",
        "- server: Redis %s, one process pinned to core %s; client: redis-benchmark, 50 "
        "connections, pinned to core %s" % (version, SERVER_CPU, CLIENT_CPU),
        "- machine: %s" % machine(),
        "- keys are `aN:<random 12-digit number>` over the keyspace, a prefix per approach; "
        "window 60 s; with the small keyspaces every approach starts from an empty database "
        "(but RL.PEEK and EXPIRE, which read the keys RL.HIT SLIDING and INCR left)",
        "- server µs/call: INFO commandstats usec_per_call; the ratios are to `SET key 1 PX "
        "60000` in the same run",
        "",
    ]
    for label, keyspace, limit, filler, rounds, text in sections:
        aof = ("; `appendonly yes`, appendfsync everysec: every change now builds its effect "
               "(RL.SETSTATE) and writes it, as SET writes its own" if label.startswith("With the AOF")
               else "")
        doc += ["## " + label, "",
                "Keyspace %d, limit %d per 60 s%s%s; %s." % (
                    keyspace, limit,
                    ", %d other keys in the database (DEBUG POPULATE)" % filler if filler else "",
                    aof,
                    "median of %d interleaved rounds" % rounds if rounds > 1 else "one round"),
                "", text, ""]
    doc += [
        "## Memory per limited key",
        "",
        "used_memory growth over %d keys created one name after the other (RL.MHIT "
        "creates 2 or 8 per call) at limit 100 per day, divided by the keys (expiry "
        "included; INCR sets none)." % memory_keys,
        "",
        memory,
        "",
        "## Memory of a log",
        "",
        "An ALGO LOG key and a Lua sliding log in a sorted set (one member per request, "
        "bench/lua/sliding_log.lua) holding the same requests, one a millisecond, 1-day "
        "window and expiry; planted with RL.SETSTATE and ZADD, since a benchmark client "
        "sends many requests in one millisecond, which a log merges into one entry.",
        "",
        log_memory_rows,
        "",
    ]
    text = "\n".join(doc)
    if os.path.exists(args.out):
        with open(args.out) as f:
            http = markers.extract(f.read())
        if http is not None:
            text = text.rstrip("\n") + "\n\n" + http + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    log("wrote %s in %.0f s" % (args.out, elapsed))


if __name__ == "__main__":
    sys.exit(main())
