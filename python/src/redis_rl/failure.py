"""What happens when Redis fails: the `on_error` choice, and a back-off so that an outage
costs one timeout per back-off period instead of one per request.

After a failure, Redis is not asked again for `period` seconds; requests meanwhile are
decided by `on_error` at once. The failure is logged once per back-off, with its reason.
The first request after the period asks Redis again: success ends the outage (logged),
another failure starts a new back-off (logged again).

Only errors that say Redis cannot answer now are failures (`is_outage`): the connection
(refused, reset, timed out), and the server's replies that it is not serving (LOADING, BUSY,
READONLY after a failover, OOM, MISCONF, NOREPLICAS, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, and
"unknown command" from a server that lacks the module a forced backend needs). Any
other error reply is about the request itself (a limit the server refuses, a key of another
type): it is raised as `RateLimitRequestError`, and neither starts the back-off nor affects
other limits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal, get_args

import redis
from redis.exceptions import (
    ClusterError,
    InvalidResponse,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)

__all__ = [
    "Backoff",
    "OnError",
    "RateLimitRequestError",
    "RateLimiterUnavailable",
    "check_on_error",
    "is_outage",
]

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


class RateLimitRequestError(redis.ResponseError):
    """The server refused the command of a limit (or a lease) for a reason of its own: the
    limit's arguments (an ALGO LOG limit above `rl.log-max-entries`, a limit above 2^53 on the
    script fallback), or its key holding a value of another type (WRONGTYPE). Redis is up:
    this is raised to the caller, and neither starts the back-off nor decides by `on_error`.

    `command` is the command refused, `keys` its keys, `limits` what they stand for, and
    `__cause__` the server's error (its text is in the message).
    """

    def __init__(
        self, command: str, keys: Sequence[str], limits: Sequence[str], error: BaseException
    ) -> None:
        described = ", ".join(
            f"{limit} ({key})" if limit else key for key, limit in zip(keys, limits, strict=True)
        )
        super().__init__(f"the server refused {command} for {described}: {error}")
        self.command = command
        self.keys = tuple(keys)
        self.limits = tuple(limits)


# Replies by which the server says it cannot serve now, whatever the request: redis-py turns
# some into classes (below), the others stay a ResponseError starting with their code.
_OUTAGE_CODES = frozenset(
    {"BUSY", "LOADING", "MASTERDOWN", "MISCONF", "NOREPLICAS", "OOM", "READONLY", "TRYAGAIN"}
)
_OUTAGE_CLASSES = (
    redis.ConnectionError,  # refused, reset, LOADING (BusyLoadingError), too many clients
    redis.TimeoutError,
    InvalidResponse,  # the connection carried something that is not RESP
    OutOfMemoryError,
    ReadOnlyError,  # a replica after a failover
    ClusterError,  # CLUSTERDOWN, MASTERDOWN, redirections that never end
    TryAgainError,
    RedisClusterException,  # no node for the slot
)


def is_outage(error: BaseException) -> bool:
    """Whether `error` means Redis cannot answer now (an outage for on_error and the
    back-off), rather than an answer about the request itself."""
    if isinstance(error, _OUTAGE_CLASSES):
        return True
    if isinstance(error, redis.ResponseError):
        text = str(error)
        # "unknown command": a server without the module (a replica or a restart without
        # loadmodule) cannot decide any limit, whatever the request.
        return text.split(" ", 1)[0] in _OUTAGE_CODES or text.startswith("unknown command")
    return False


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
