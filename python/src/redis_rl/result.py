"""The outcome of one request's limits: which limits were checked, which one decided and
what the server answered, or why Redis could not answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .decision import Decision
from .rates import Rate

__all__ = ["Policy", "RateLimitResult"]


class Policy(NamedTuple):
    """One rate as the headers name it: `"per-minute";q=10;w=60`."""

    name: str
    quota: int
    window: int  # seconds
    scope: str


@dataclass(frozen=True)
class RateLimitResult:
    """What the limiter decided for one request.

    `decision` is the server's answer for the limit that decided (`policy`, `rate`), None
    when Redis was not asked: it failed or is skipped after a failure (`error` says why,
    and the limits' `on_error` chose `allowed`), or the request cost nothing.
    `policies` lists every rate the request was checked against.
    """

    allowed: bool
    policies: tuple[Policy, ...]
    decision: Decision | None = None
    policy: Policy | None = None
    rate: Rate | None = None
    error: BaseException | None = None
    unavailable_for: float = 0.0
    """With `error`: seconds until Redis is asked again."""

    @property
    def remaining(self) -> int | None:
        return None if self.decision is None else self.decision.remaining

    @property
    def retry_after(self) -> float | None:
        """Seconds until the request would be admitted; None for never, or not known."""
        return None if self.decision is None else self.decision.retry_after

    @property
    def reset_after(self) -> float | None:
        return None if self.decision is None else self.decision.reset_after
