"""Probe 6: the module under valgrind.

A primary and its replica run under memcheck (`--leak-check=full`) with the module: a round
of fuzzed commands (every command, valid and not, plain, in MULTI/EXEC and in scripts; ALGO
LOG and the lease commands among them), DEBUG RELOAD, real and crafted RESTORE payloads (logs
and leases too, then used with RL.HIT, RL.ACQUIRE, RL.RENEW and RL.RELEASE), DUMP, COPY,
MEMORY USAGE, DEBUG DIGEST-VALUE, an AOF rewrite, and the replica applying the effects. The
servers are shut down cleanly so that valgrind reports leaks. It passes when no "definitely
lost" block and no invalid read, write or free has a frame in the module.

A frame is in the module when valgrind names a Rust function (the server is C: every Rust
frame is librl's) or the module's file. Servers whose allocator valgrind cannot replace
(jemalloc linked in statically: the PyPI Redis 8.2) are skipped: the module allocates through
the server's allocator, which valgrind would not see.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re
import shutil
import subprocess
from pathlib import Path

import harness
import payloads
import probe_fuzz
import probe_restore
import servers
from report import ServerReport, log
from resp import Status

PROBE = "valgrind"
VALGRIND_ARGS = (
    "--tool=memcheck",
    "--leak-check=full",
    "--show-leak-kinds=definite",
    "--num-callers=40",
    "--error-limit=no",
    # Debian's redis-server takes malloc from a shared libjemalloc: watch that one too.
    "--soname-synonyms=somalloc=*jemalloc*",
    "--log-file=valgrind.%p.log",
    f"--suppressions={Path(__file__).with_name('valgrind.supp')}",
)
ERROR_HEAD = re.compile(
    r"^==\d+== (Invalid (read|write|free)[^\n]*|Mismatched free[^\n]*|"
    r"[\d,]+ bytes in [\d,]+ blocks are definitely lost[^\n]*|"
    r"Conditional jump or move depends on uninitialised[^\n]*|"
    r"Use of uninitialised value[^\n]*|Syscall param[^\n]*)$"
)
FRAME = re.compile(r"^==\d+==\s+(at|by) 0x[0-9A-F]+: (.*)$")


def allocator_visible(kind: servers.ServerKind) -> tuple[bool, str]:
    version = subprocess.run([kind.binary, "--version"], capture_output=True, text=True).stdout
    if "malloc=libc" in version:
        return True, "libc malloc"
    linked = subprocess.run(["ldd", kind.binary], capture_output=True, text=True).stdout
    if "libjemalloc" in linked:
        return True, "shared libjemalloc"
    return False, "jemalloc linked in statically"


def module_frame(frame: str, module_name: str) -> bool:
    return "::" in frame or frame.startswith(("_ZN", "_R")) or module_name in frame


def findings(log_text: str, module_name: str) -> list[tuple[str, str]]:
    """(error head, frames) for every error record with a frame in the module."""
    out = []
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        head = ERROR_HEAD.match(line)
        if not head:
            continue
        frames = []
        for follow in lines[i + 1 : i + 60]:
            m = FRAME.match(follow)
            if m:
                frames.append(m.group(2))
            elif frames:
                break
        if any(module_frame(f, module_name) for f in frames):
            out.append((head.group(1), " <- ".join(frames[:12])))
    return out


def workload(primary: servers.Server, cfg: harness.Config, rep: ServerReport) -> None:
    fuzz_cfg = dataclasses.replace(cfg, round_commands=cfg.valgrind_commands, batch_commands=100)
    probe_fuzz.Round(primary, cfg.seed, fuzz_cfg, rep).run()
    conn = harness.connect(primary)
    try:
        rng = random.Random(cfg.seed * 17 + 6)
        grammar = harness.grammar(primary)
        with_leases = grammar.lease_max_held is not None
        bases = probe_restore.real_dumps(
            conn, harness.EPOCH_US, grammar.algorithms, with_leases=with_leases
        )
        crafted = bases + [payloads.mutate(rng.choice(bases), rng) for _ in range(150)]
        for i, p in enumerate(crafted):
            key = f"v:{i}"
            if conn.call("RESTORE", key, 0, p.data) == Status("OK"):
                conn.pipeline(
                    [
                        ["RL.PEEK", key, "5", "60"],
                        ["RL.HIT", key, "5", "60", "ALGO", "GCRA", "BURST", "7"],
                        ["DUMP", key],
                        ["COPY", key, f"{key}:copy"],
                        ["MEMORY", "USAGE", key],
                        ["DEBUG", "DIGEST-VALUE", key],
                        ["RL.HIT", f"{key}:copy", "3", "1"],
                        ["RL.ACQUIRE", f"{key}:copy", "5", "1m", "ID", "job-1"],
                        ["RL.RENEW", f"{key}:copy", "job-1", "2m"],
                        ["RL.RELEASE", f"{key}:copy", "job-1"],
                        ["RL.ACQUIRE", key, "5", "1m"],
                        ["RL.HIT", key, "5", "1m", "ALGO", "LOG"],
                    ]
                )
        # The AOF rewritten as commands: the module's aof_rewrite callback.
        conn.call("CONFIG", "SET", "aof-use-rdb-preamble", "no")
        conn.call("CONFIG", "SET", "appendonly", "yes")
        harness.wait_for(
            lambda: (
                primary.client().info("persistence").get("aof_rewrite_in_progress") == 0
                and primary.client().info("persistence").get("aof_rewrite_scheduled") == 0
            ),
            300,
            "the AOF rewrite",
        )
        answer = conn.call("DEBUG", "RELOAD")
        if answer != Status("OK"):
            log(f"    DEBUG RELOAD answered {answer!r} (see the fuzz probe)")
    finally:
        conn.close()


def classify(head: str) -> str:
    if "definitely lost" in head:
        return "definitely lost"
    return " ".join(head.split()[:2]).lower()


def shut_down(server: servers.Server) -> None:
    with contextlib.suppress(Exception):
        server.client(socket_timeout=300).shutdown(nosave=True)
    try:
        server.process.wait(timeout=300)
    except subprocess.TimeoutExpired:
        server.stop()


def run(kind: servers.ServerKind, cfg: harness.Config, rep: ServerReport) -> None:
    if not shutil.which("valgrind"):
        raise RuntimeError("valgrind is missing (scripts/install-deps.sh --soak installs it)")
    visible, why = allocator_visible(kind)
    if not visible:
        log(f"    skipped: {why}; valgrind would not see the module's allocations")
        rep.probes_skipped.add(PROBE)
        return
    wrapper = ("valgrind", *VALGRIND_ARGS)
    primary = harness.start(kind, clock=True, wrapper=wrapper, ready_timeout=180)
    replica = harness.start(kind, wrapper=wrapper, ready_timeout=180)
    try:
        replica.client().replicaof("127.0.0.1", primary.port)
        harness.wait_for(
            lambda: replica.client().info("replication").get("master_link_status") == "up",
            300,
            "the replica under valgrind to sync",
        )
        workload(primary, cfg, rep)
        harness.wait_for(
            lambda: (
                primary.client().info("replication").get("master_repl_offset")
                == replica.client().info("replication").get("slave_repl_offset")
            ),
            300,
            "the replica to apply every effect",
        )
    finally:
        shut_down(replica)
        shut_down(primary)
    module_name = servers.module_path().name
    found = 0
    for server, role in ((primary, "primary"), (replica, "replica")):
        logs = sorted(Path(server.dir).glob("valgrind.*.log"))
        if not logs:
            rep.fail(PROBE, "no valgrind log", f"{role}: nothing in {server.dir}")
        for path in logs:
            text = path.read_text(errors="replace")
            for head, frames in findings(text, module_name):
                found += 1
                if "definitely lost" in head:
                    rep.add("leaks")
                rep.fail(PROBE, classify(head), f"{role} ({path}): {head}: {frames}")
            summary = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
            log(
                f"    {role} {path.name}: {summary[-1] if summary else '?'} errors in all, "
                f"{len(findings(text, module_name))} with a module frame"
            )
    log(f"    valgrind: {found} findings with a frame in {module_name}")
