"""What a request is limited by: `Limit` (rates under one scope, with their options) and how
a caller's declaration ("10/minute", a configured name, a plan) becomes limits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .commands import Algorithm, hit_arguments
from .config import LimitsConfig
from .failure import OnError, check_on_error
from .rates import Rate, parse_rates

__all__ = [
    "Limit",
    "LimitRequest",
    "LimitsArg",
    "check_algorithm",
    "is_limit_name",
    "limit_items",
    "resolve_limits",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def is_limit_name(text: str) -> bool:
    """A configured limit's name ("search") rather than rates ("10/minute")."""
    return _NAME.fullmatch(text.strip()) is not None


def check_algorithm(algorithm: Algorithm | None, burst: int | None) -> None:
    """Checks an algorithm and a burst as the commands do (ValueError), when declared."""
    if algorithm is not None or burst is not None:
        hit_arguments(1, 1, 1, algorithm, burst)


@dataclass(frozen=True)
class Limit:
    """Rates that apply together to one scope (a route, a shared name, a plan).

    `algorithm` and `burst` are passed to the server (None: the server's default, SLIDING
    unless `rl.default-algorithm` says otherwise); `on_error` overrides the limiter's.
    """

    rates: tuple[Rate, ...]
    scope: str = "default"
    algorithm: Algorithm | None = None
    burst: int | None = None
    on_error: OnError | None = None

    def __post_init__(self) -> None:
        if not self.rates:
            raise ValueError("a Limit needs at least one rate")
        if not isinstance(self.scope, str):
            raise ValueError(f"scope must be a string, not {self.scope!r}")
        if self.on_error is not None:
            check_on_error(self.on_error)
        check_algorithm(self.algorithm, self.burst)

    @classmethod
    def parse(
        cls,
        rates: str | Rate | Iterable[str | Rate],
        scope: str = "default",
        *,
        algorithm: Algorithm | None = None,
        burst: int | None = None,
        on_error: OnError | None = None,
    ) -> Limit:
        return cls(parse_rates(rates), scope, algorithm, burst, on_error)


class LimitRequest(NamedTuple):
    """One limit applied to one identity (a user, an API key, an address) at a cost."""

    limit: Limit
    identity: str
    cost: int = 1


LimitsArg = str | Rate | Limit | Sequence[str | Rate | Limit] | None


def limit_items(limits: LimitsArg) -> list[str | Rate | Limit]:
    """A declaration's items, one or a list; ValueError for anything else."""
    if limits is None:
        return []
    if isinstance(limits, (str, Rate, Limit)):
        return [limits]
    if isinstance(limits, bytes) or not isinstance(limits, Iterable):
        raise ValueError(
            f"limits must be rate strings such as '10/minute', names of configured limits, "
            f"Rate or Limit objects, or a list of them, not {limits!r}"
        )
    return list(limits)


def resolve_limits(
    limits: LimitsArg,
    config: LimitsConfig,
    *,
    scope: str | None = None,
    plan: str | None = None,
    use_plan: bool = False,
    algorithm: Algorithm | None = None,
    burst: int | None = None,
    on_error: OnError | None = None,
) -> list[Limit]:
    """The limits a declaration names:

    - a rate string ("10/second;1000/day") or Rate: those rates, under `scope` or "default";
    - a name from the configuration's `limits`: its rates, under `scope` or the name;
    - a Limit: itself;
    - `use_plan`: the rates of the plan called `plan` (or the default plan), under `scope`
      or "plan";
    - nothing at all: the configuration's default.
    """

    def build(rates: tuple[Rate, ...], default_scope: str) -> Limit:
        return Limit(rates, scope or default_scope, algorithm, burst, on_error)

    items = limit_items(limits)
    resolved: list[Limit] = []
    for item in items:
        if isinstance(item, Limit):
            resolved.append(item)
        elif isinstance(item, Rate):
            resolved.append(build((item,), "default"))
        elif isinstance(item, str) and is_limit_name(item):
            name = item.strip()
            if name not in config.limits:
                known = ", ".join(config.limits) or "none configured"
                raise ValueError(
                    f"{item!r} is neither a rate such as '10/minute' nor the name of a "
                    f"configured limit (named limits: {known})"
                )
            resolved.append(build(config.limits[name], name))
        elif isinstance(item, str):
            resolved.append(build(parse_rates(item), "default"))
        else:
            raise ValueError(f"expected rate strings, Rate or Limit objects, not {item!r}")
    if use_plan:
        _, rates = config.plan(plan)
        resolved.append(build(rates, "plan"))
    if not resolved:
        if not config.default:
            raise ValueError("no limits given, and the limits configuration has no default")
        resolved.append(build(config.default, "default"))
    return resolved
