"""Keys whose usage can be counted exactly from outside, for the probes that compare what a
client saw admitted with what a server holds after a crash or a migration.

Every key allows 1,000,000 units. SLIDING and FIXED keys use a one-day window, so a probe of
a few minutes stays in a key's first window and `remaining = limit - admitted`. The buckets
(TOKEN, LEAKY, GCRA) use the longest window, 36500 days, with BURST = limit: one unit drains
in 52 minutes, so the units in use, rounded up as the module reports them, stay the units
admitted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LIMIT = 1_000_000
# ALGO LOG (after module 0.1) keeps an entry per millisecond with admissions: its keys allow
# 10,000 units a day, within rl.log-max-entries' default.
LOG_LIMIT = 10_000
ALGORITHMS = ("SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA")


@dataclass(frozen=True)
class Counted:
    key: bytes
    algorithm: str

    @property
    def args(self) -> list[str]:
        if self.algorithm == "LOG":
            return [str(LOG_LIMIT), "1d", "ALGO", "LOG"]
        window = "1d" if self.algorithm in ("SLIDING", "FIXED") else "36500d"
        return [str(LIMIT), window, "ALGO", self.algorithm]


def counted_keys(
    prefix: str, per_algorithm: int, algorithms: tuple[str, ...] = ALGORITHMS
) -> list[Counted]:
    return [
        Counted(f"{prefix}{a.lower()}:{i}".encode(), a)
        for a in algorithms
        for i in range(per_algorithm)
    ]


@dataclass(frozen=True)
class Pair:
    """Two keys limited together by RL.MHIT (same hash slot)."""

    first: Counted
    second: Counted

    def command(self, cost: int) -> list[str | bytes]:
        return [
            "RL.MHIT",
            "2",
            self.first.key,
            self.second.key,
            "LIMIT",
            *self.first.args,
            "LIMIT",
            *self.second.args,
            "COST",
            str(cost),
        ]


def pairs(
    prefix: str, n: int, rng: random.Random, algorithms: tuple[str, ...] = ALGORITHMS
) -> list[Pair]:
    out = []
    for i in range(n):
        a, b = rng.sample(algorithms, 2)
        tag = f"{{{prefix}m{i}}}"
        out.append(
            Pair(
                Counted(f"{tag}:{a.lower()}".encode(), a), Counted(f"{tag}:{b.lower()}".encode(), b)
            )
        )
    return out


def used(reply: object) -> int | None:
    """Units in use from the reply of an RL.PEEK of cost 1 (None when it is not a decision).
    `remaining` counts what would be left after the request, when it would be admitted."""
    if isinstance(reply, list) and len(reply) == 5 and all(isinstance(x, int) for x in reply):
        allowed, limit, remaining = int(reply[0]), int(reply[1]), int(reply[2])
        return limit - remaining - allowed
    return None
