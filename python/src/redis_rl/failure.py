"""What happens when Redis fails: the `on_error` choice, and a back-off so that an outage
costs one timeout per back-off period instead of one per request.

After a failure, Redis is not asked again for `period` seconds; requests meanwhile are
decided by `on_error` at once. The failure is logged once per back-off, with its reason.
The first request after the period asks Redis again: success ends the outage (logged),
another failure starts a new back-off (logged again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal, get_args

__all__ = ["Backoff", "OnError", "RateLimiterUnavailable", "check_on_error"]

log = logging.getLogger("redis_rl")

OnError = Literal["allow", "deny", "raise"]
"""On a Redis failure: admit the request, refuse it, or raise RateLimiterUnavailable."""


class RateLimiterUnavailable(Exception):
    """Redis could not decide (it failed, or is being skipped after a failure) and the limit
    says `on_error="raise"`. `__cause__` is the Redis error, `retry_after` the seconds
    until Redis is asked again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def check_on_error(value: str) -> OnError:
    if value not in get_args(OnError):
        raise ValueError(f"on_error must be one of allow, deny or raise, not {value!r}")
    return value  # type: ignore[return-value]


class Backoff:
    """Skips Redis for `period` seconds after each failure. `clock` is monotonic seconds."""

    def __init__(
        self,
        period: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        if not period >= 0:
            raise ValueError(f"backoff must be a number of seconds, at least 0, not {period!r}")
        self.period = period
        self._clock = clock
        self._log = logger
        self._lock = threading.Lock()
        self._until: float | None = None
        self.last_error: BaseException | None = None
        self.failures = 0

    def skipping(self) -> bool:
        """True while Redis is in a back-off period (do not ask it)."""
        until = self._until
        return until is not None and self._clock() < until

    def remaining(self) -> float:
        """Seconds until Redis is asked again (0 when it may be asked now)."""
        until = self._until
        return 0.0 if until is None else max(0.0, until - self._clock())

    def failed(self, error: BaseException) -> None:
        """Starts a back-off after `error`, logging it once."""
        with self._lock:
            now = self._clock()
            if self._until is not None and now < self._until:
                return  # a concurrent request failed within the same back-off
            self._until = now + self.period
            self.last_error = error
            self.failures += 1
        self._log.warning(
            "redis-rl: Redis failed (%s: %s); not asking it for %.1f s, limits decide by "
            "their on_error meanwhile",
            type(error).__name__,
            error,
            self.period,
        )

    def succeeded(self) -> None:
        """Redis answered: ends an outage (logged once)."""
        if self._until is None:
            return
        with self._lock:
            if self._until is None:
                return
            self._until = None
            self.last_error = None
        self._log.warning("redis-rl: Redis answers again; limits are enforced")
