"""make soak / make soak-quick: the probes that found the module's reliability bugs, run on every
server of the matrix, with a summary table and a non-zero exit status on any failure.

    build/venv/bin/python tests/soak/run.py [--quick] [--probe NAME ...] [--server ID ...]
                                            [--seed N] [--one-seed]

--seed sets the first seed (fuzz rounds use seed, seed+1, ...; the other probes derive theirs
from it); --one-seed runs a single fuzz round with exactly that seed, to replay a failure.
RL_MODULE names the module (default target/release/librl.so), RL_SERVERS the servers.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "support")]

import harness  # noqa: E402
import probe_clock  # noqa: E402
import probe_crash  # noqa: E402
import probe_fuzz  # noqa: E402
import probe_reshard  # noqa: E402
import probe_restore  # noqa: E402
import probe_valgrind  # noqa: E402
import servers  # noqa: E402
from report import ServerReport, log, print_summary  # noqa: E402

Probe = Callable[[servers.ServerKind, harness.Config, ServerReport], None]
PROBES: dict[str, Probe] = {
    "fuzz": probe_fuzz.run,
    "restore": probe_restore.run,
    "crash": probe_crash.run,
    "reshard": probe_reshard.run,
    "clock": probe_clock.run,
    "valgrind": probe_valgrind.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds of each probe")
    parser.add_argument("--probe", action="append", choices=list(PROBES), help="only these")
    parser.add_argument("--server", action="append", help="only these servers (e.g. redis7.0)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--one-seed", action="store_true", help="one fuzz round, this seed")
    parser.add_argument("--report", type=Path, default=Path("build/soak/report.json"))
    opts = parser.parse_args()

    cfg = harness.quick(opts.seed) if opts.quick else harness.full(opts.seed)
    cfg = replace(cfg, one_seed=opts.one_seed)
    probes = opts.probe or [p for p in PROBES if not (cfg.quick and p == "valgrind")]
    kinds = servers.matrix()
    if opts.server:
        kinds = [k for k in kinds if k.id in opts.server or k.name in opts.server]
        if not kinds:
            parser.error(
                f"no server matches {opts.server}; ids: {[k.id for k in servers.matrix()]}"
            )
    log(
        f"soak ({'quick' if cfg.quick else 'full'}), seed {cfg.seed}, module "
        f"{servers.module_path()}"
    )
    reports = []
    started = time.monotonic()
    for kind in kinds:
        rep = ServerReport(kind.name)
        reports.append(rep)
        for name in probes:
            log(f"=== {kind.name}: {name}")
            rep.probes_run.append(name)
            t0 = time.monotonic()
            try:
                PROBES[name](kind, cfg, rep)
            except Exception:
                rep.fail(name, "probe error", traceback.format_exc().strip().replace("\n", " | "))
            log(f"    {name} took {time.monotonic() - t0:.1f} s")
    log(f"\nsoak took {time.monotonic() - started:.0f} s")
    return print_summary(reports, opts.report)


if __name__ == "__main__":
    sys.exit(main())
