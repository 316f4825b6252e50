"""What the soak found: figures per server, and failures grouped by what broke, each with
enough to reproduce it (a seed, a payload in hex, a command history)."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

FIGURES = (
    ("commands_fuzzed", "commands fuzzed"),
    ("payloads_tried", "payloads tried"),
    ("payloads_accepted", "payloads accepted"),
    ("crashes", "crashes"),
    ("hits_lost", "hits lost"),
    ("leaks", "leaks"),
    ("clock_violations", "clock-step violations"),
    ("failures", "failures"),
)
EXAMPLES_SHOWN = 3
EXAMPLES_KEPT = 40
# Console lines are cut to this; the JSON report keeps every detail.
SHOWN_CHARS = 700


def cut(text: str) -> str:
    return (
        text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + " ...(cut; see the JSON report)"
    )


@dataclass
class Failure:
    probe: str
    check: str
    detail: str


@dataclass
class ServerReport:
    server: str
    figures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    probes_run: list[str] = field(default_factory=list)
    probes_failed: set[str] = field(default_factory=set)
    probes_skipped: set[str] = field(default_factory=set)

    def add(self, key: str, n: int = 1) -> None:
        self.figures[key] += n

    def fail(self, probe: str, check: str, detail: str) -> None:
        """Records one failure; the first few of each kind are printed as they happen."""
        group = (probe, check)
        self.counts[group] += 1
        self.figures["failures"] += 1
        self.probes_failed.add(probe)
        if len(self.failures[group]) < EXAMPLES_KEPT:
            self.failures[group].append(detail)
        if self.counts[group] <= EXAMPLES_SHOWN:
            print(cut(f"  FAIL [{self.server}] {probe}/{check}: {detail}"), flush=True)
        elif self.counts[group] == EXAMPLES_SHOWN + 1:
            print(f"  FAIL [{self.server}] {probe}/{check}: more of these, not shown", flush=True)


def log(message: str) -> None:
    print(message, flush=True)


def status(r: ServerReport, probe: str) -> str:
    if probe in r.probes_failed:
        return "FAILED"
    return "skipped" if probe in r.probes_skipped else "passed"


def print_summary(reports: list[ServerReport], out: Path) -> int:
    """Prints the table and the failures, writes them as JSON, and returns the exit status."""
    names = [r.server for r in reports]
    width = max(len(label) for _, label in FIGURES)
    col = max([12] + [len(n) + 2 for n in names])
    print()
    print("=== Soak summary")
    print(" " * width + "".join(n.rjust(col) for n in names))
    for key, label in FIGURES:
        row = "".join(str(r.figures.get(key, 0)).rjust(col) for r in reports)
        print(label.ljust(width) + row)
    passed = failed = skipped = 0
    for r in reports:
        for probe in r.probes_run:
            if probe in r.probes_failed:
                failed += 1
            elif probe in r.probes_skipped:
                skipped += 1
            else:
                passed += 1
    any_failure = False
    for r in reports:
        for (probe, check), examples in sorted(r.failures.items()):
            any_failure = True
            print(f"\n--- {r.server}: {probe}/{check}: {r.counts[(probe, check)]} time(s)")
            for example in examples[:EXAMPLES_SHOWN]:
                print(cut(f"    {example}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            [
                {
                    "server": r.server,
                    "figures": dict(r.figures),
                    "probes": {p: status(r, p) for p in r.probes_run},
                    "failures": [
                        {
                            "probe": probe,
                            "check": check,
                            "count": r.counts[(probe, check)],
                            "examples": examples,
                        }
                        for (probe, check), examples in sorted(r.failures.items())
                    ],
                }
                for r in reports
            ],
            indent=2,
        )
    )
    print(f"\nFull report: {out}")
    # One line per server and probe, then the closing count.
    print()
    for r in reports:
        for probe in r.probes_run:
            print(f"{status(r, probe):7} {r.server}: {probe}")
    print(f"soak: {passed} passed, {failed} failed, {skipped} skipped")
    sys.stdout.flush()
    return 1 if any_failure or failed else 0
