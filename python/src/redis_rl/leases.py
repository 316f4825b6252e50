"""Concurrency leases for any code: how many at once, not how many per window.

    with limiter.lease("tenant:7", limit=5, lease="30s") as lease:
        for chunk in work:
            process(chunk)
            lease.renew()          # another 30 s, for a long job

`RateLimiter.lease(...)` returns a `Lease` (`AsyncRateLimiter.lease(...)` an `AsyncLease`, for
`async with`). Entering it takes a lease with RL.ACQUIRE, on the module or the script fallback;
leaving it gives the lease back with RL.RELEASE, also when the body raises. A lease that is not
given back (the process died) expires by itself `lease` after it was taken or last renewed.

No room: with `wait=0` (the default) `LeaseDenied` is raised at once, carrying the server's
answer (`acquired`) and `retry_after`, the seconds until enough leases expire if none is
released meanwhile. With `wait=seconds`, the lease is asked for again every `poll` seconds
(sooner when a lease expires sooner) until it is granted, or `wait` has passed: then
LeaseDenied. A cost above the limit never fits: LeaseDenied at once, `retry_after` None.

Redis failing (or skipped after a failure, see `failure`): `on_error` decides, as for rate
limits. "allow": the body runs without a lease (`lease.held` is False; `renew` and `release`
do nothing). "deny": LeaseDenied, with `error`. "raise": RateLimiterUnavailable. A release that
fails is logged, not raised (the lease expires by itself); a renew that fails is ignored with
"allow", and raises RateLimiterUnavailable otherwise.

Keys are those of the limiter, hash-tagged by identity:

    rl:{<identity>}:<scope>:leases        with the module
    rl:lua:{<identity>}:<scope>:leases    with the script fallback
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from redis.typing import EncodableT

from .commands import LeaseId, Window, acquire_arguments, lease_id_argument, window_argument
from .decision import Acquired
from .failure import (
    OnError,
    RateLimiterUnavailable,
    RateLimitRequestError,
    check_on_error,
    is_outage,
)

if TYPE_CHECKING:
    from .limiter import AsyncRateLimiter, RateLimiter

__all__ = ["AsyncLease", "Lease", "LeaseDenied", "LeaseLost"]

log = logging.getLogger("redis_rl")

DEFAULT_POLL = 0.1
"""Seconds between two asks for a lease while waiting for one."""


class LeaseDenied(Exception):
    """No lease: its units are held by others (or its cost exceeds the limit), or Redis failed
    and `on_error` is "deny".

    `acquired` is the server's answer (None when Redis failed: `error` says why);
    `retry_after` the seconds until enough leases expire for the request to fit, if none is
    released meanwhile (None: never, or not known).
    """

    def __init__(
        self,
        key: str | None,
        acquired: Acquired | None,
        error: BaseException | None = None,
        *,
        identity: str | None = None,
        scope: str | None = None,
    ) -> None:
        self.key = key
        """The leases' key; None when Redis failed before the backend, which names it, was
        known (`identity` and `scope` say whose leases)."""
        self.identity = identity
        self.scope = scope
        self.acquired = acquired
        self.error = error
        self.retry_after = None if acquired is None else acquired.retry_after
        where = key if key is not None else f"the leases of {identity!r} (scope {scope!r})"
        if acquired is None:
            message = f"no lease on {where}: Redis cannot decide ({type(error).__name__}: {error})"
        elif acquired.retry_after is None:
            message = f"no lease on {where}: the cost exceeds the limit of {acquired.limit}"
        else:
            message = (
                f"no lease on {where}: {acquired.limit} units held; one expires in "
                f"{acquired.retry_after:.3f} s"
            )
        super().__init__(message)


class LeaseLost(Exception):
    """`renew()` found the lease no longer held: it expired (or was released), and others may
    hold its units. The work it guarded should stop, or take a lease again."""

    def __init__(self, key: str, lease_id: str) -> None:
        super().__init__(f"the lease {lease_id!r} on {key} is no longer held")
        self.key = key
        self.id = lease_id


class _LeaseBase:
    """What both kinds of lease hold, and their pure decisions."""

    def __init__(
        self,
        identity: str,
        limit: int,
        lease: Window,
        *,
        scope: str,
        cost: int,
        id: LeaseId | None,
        wait: float,
        poll: float,
        on_error: OnError,
    ) -> None:
        if not isinstance(identity, str):
            raise ValueError(f"identity must be a string, not {identity!r}")
        if not isinstance(scope, str) or not scope:
            raise ValueError(f"scope must be a non-empty string, not {scope!r}")
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
            raise ValueError(f"wait must be a number of seconds, at least 0, not {wait!r}")
        if isinstance(poll, bool) or not isinstance(poll, (int, float)) or not poll > 0:
            raise ValueError(f"poll must be a number of seconds above 0, not {poll!r}")
        self.identity = identity
        self.scope = scope
        self.limit = limit
        self.lease = lease
        self.wait = float(wait)
        self.poll = float(poll)
        self.on_error: OnError = check_on_error(on_error)
        # The lease's id is always ours, never one the server makes: an RL.ACQUIRE that timed
        # out may still run, and asked again (waiting, or acquire() after on_error="allow")
        # it is the same holder, whose lease is replaced, not added; and it can be released.
        lease_id = secrets.token_hex(8) if id is None else id
        self._args: list[EncodableT] = acquire_arguments(limit, lease, cost, lease_id)
        self.key: str | None = None
        """The key, once asked for (it depends on the backend)."""
        self.id: str = (
            lease_id.decode("utf-8", "surrogateescape") if isinstance(lease_id, bytes) else lease_id
        )
        """The lease's id: the one given, or 16 hex digits made here."""
        self.acquired: Acquired | None = None
        """The server's last answer to RL.ACQUIRE."""
        self.error: BaseException | None = None
        """The Redis failure, when the lease was not asked for (on_error="allow")."""
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this holds a lease (taken, not yet released)."""
        return self._held

    def _granted(self, acquired: Acquired) -> bool:
        self.acquired = acquired
        if acquired.allowed:
            self._held, self.error = True, None
        return acquired.allowed

    def _pause(self, acquired: Acquired, deadline: float) -> float | None:
        """How long to wait before asking again; None: give up."""
        left = deadline - time.monotonic()
        if acquired.retry_after is None or left <= 0:
            return None
        return max(0.0, min(self.poll, acquired.retry_after, left))

    def _unavailable(self, error: BaseException, retry_in: float) -> None:
        """Redis cannot decide: on_error does."""
        if self.on_error == "raise":
            raise RateLimiterUnavailable(
                f"Redis cannot decide ({type(error).__name__}: {error}); "
                f"asking it again in {retry_in:.1f} s",
                retry_in,
            ) from error
        if self.on_error == "deny":
            raise LeaseDenied(
                self.key, None, error, identity=self.identity, scope=self.scope
            ) from error
        self.error = error

    def _before_renew(self) -> bool:
        """Whether there is a lease to renew: not when the body runs without one."""
        if self._held:
            return True
        if self.error is not None:
            return False
        raise RuntimeError("renew() needs a held lease: this one was not taken or was released")

    def _lost(self) -> LeaseLost:
        assert self.key is not None
        lost = LeaseLost(self.key, self.id)
        self._held = False
        return lost

    def _refused(self, command: str, error: BaseException) -> RateLimitRequestError:
        key = self.key or f"the leases of {self.identity!r} (scope {self.scope!r})"
        return RateLimitRequestError(command, [key], [f"lease limit {self.limit}"], error)

    def _release_failed(self, error: BaseException) -> None:
        log.warning(
            "redis-rl: could not release the lease %r on %s (%s: %s); it expires by itself",
            self.id,
            self.key,
            type(error).__name__,
            error,
        )

    def __repr__(self) -> str:
        state = "held" if self._held else "not held"
        return f"<{type(self).__name__} {self.key or self.identity} id={self.id!r} {state}>"


class Lease(_LeaseBase):
    """A lease on a concurrency limit, for `with` (see the module documentation); made by
    `RateLimiter.lease`. `acquire()` and `release()` do the same without `with`."""

    def __init__(
        self, limiter: RateLimiter, identity: str, limit: int, lease: Window, **options: Any
    ):
        super().__init__(identity, limit, lease, **options)
        self._limiter = limiter

    def acquire(self) -> Lease:
        """Takes the lease (waiting up to `wait` seconds for room); raises LeaseDenied."""
        if self._held:
            raise RuntimeError("the lease is held already")
        deadline = time.monotonic() + self.wait
        while True:
            acquired = self._ask()
            if acquired is None or self._granted(acquired):
                return self
            pause = self._pause(acquired, deadline)
            if pause is None:
                raise LeaseDenied(self.key, acquired, identity=self.identity, scope=self.scope)
            time.sleep(pause)

    def _ask(self) -> Acquired | None:
        limiter = self._limiter
        backoff = limiter.backoff
        if backoff.skipping() and backoff.last_error is not None:
            self._unavailable(backoff.last_error, backoff.remaining())
            return None
        try:
            self.key = limiter.lease_key(self.identity, self.scope)
            reply = limiter.rl.call("RL.ACQUIRE", [self.key], self._args)
        except limiter.errors as error:
            if not is_outage(error):
                backoff.succeeded()  # Redis answered
                raise self._refused("RL.ACQUIRE", error) from error
            backoff.failed(error)
            self._unavailable(error, backoff.remaining())
            return None
        backoff.succeeded()
        return Acquired.from_reply(reply)

    def renew(self, lease: Window | None = None) -> None:
        """Extends the lease: it now expires `lease` (default: the lease's duration) from now.
        Raises LeaseLost when the lease had expired or was released meanwhile."""
        if not self._before_renew():
            return
        assert self.key is not None
        duration = window_argument(self.lease if lease is None else lease, "lease")
        limiter = self._limiter
        try:
            held = limiter.rl.call("RL.RENEW", [self.key], [lease_id_argument(self.id), duration])
        except limiter.errors as error:
            if not is_outage(error):
                raise self._refused("RL.RENEW", error) from error
            if self.on_error != "allow":
                raise RateLimiterUnavailable(
                    f"the lease could not be renewed ({type(error).__name__}: {error})", 0.0
                ) from error
            log.warning(
                "redis-rl: could not renew the lease %r on %s: %s", self.id, self.key, error
            )
            return
        if not held:
            raise self._lost()

    def release(self) -> bool:
        """Gives the lease back now: True if it was still held. Raises the Redis error."""
        if not self._held:
            return False
        self._held = False
        assert self.key is not None
        return bool(self._limiter.rl.call("RL.RELEASE", [self.key], [lease_id_argument(self.id)]))

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except self._limiter.errors as error:
            if not is_outage(error):
                raise self._refused("RL.RELEASE", error) from error
            self._release_failed(error)


class AsyncLease(_LeaseBase):
    """Lease for asyncio code, for `async with`; made by `AsyncRateLimiter.lease`. Its
    `acquire`, `renew` and `release` are coroutines."""

    def __init__(
        self, limiter: AsyncRateLimiter, identity: str, limit: int, lease: Window, **options: Any
    ):
        super().__init__(identity, limit, lease, **options)
        self._limiter = limiter

    async def acquire(self) -> AsyncLease:
        """See Lease.acquire; waits without blocking the event loop."""
        if self._held:
            raise RuntimeError("the lease is held already")
        deadline = time.monotonic() + self.wait
        while True:
            acquired = await self._ask()
            if acquired is None or self._granted(acquired):
                return self
            pause = self._pause(acquired, deadline)
            if pause is None:
                raise LeaseDenied(self.key, acquired, identity=self.identity, scope=self.scope)
            await asyncio.sleep(pause)

    async def _ask(self) -> Acquired | None:
        limiter = self._limiter
        backoff = limiter.backoff
        if backoff.skipping() and backoff.last_error is not None:
            self._unavailable(backoff.last_error, backoff.remaining())
            return None
        try:
            self.key = await limiter.lease_key(self.identity, self.scope)
            reply = await limiter.rl.call("RL.ACQUIRE", [self.key], self._args)
        except limiter.errors as error:
            if not is_outage(error):
                backoff.succeeded()  # Redis answered
                raise self._refused("RL.ACQUIRE", error) from error
            backoff.failed(error)
            self._unavailable(error, backoff.remaining())
            return None
        backoff.succeeded()
        return Acquired.from_reply(reply)

    async def renew(self, lease: Window | None = None) -> None:
        """See Lease.renew."""
        if not self._before_renew():
            return
        assert self.key is not None
        duration = window_argument(self.lease if lease is None else lease, "lease")
        limiter = self._limiter
        try:
            args: list[EncodableT] = [lease_id_argument(self.id), duration]
            held = await limiter.rl.call("RL.RENEW", [self.key], args)
        except limiter.errors as error:
            if not is_outage(error):
                raise self._refused("RL.RENEW", error) from error
            if self.on_error != "allow":
                raise RateLimiterUnavailable(
                    f"the lease could not be renewed ({type(error).__name__}: {error})", 0.0
                ) from error
            log.warning(
                "redis-rl: could not renew the lease %r on %s: %s", self.id, self.key, error
            )
            return
        if not held:
            raise self._lost()

    async def release(self) -> bool:
        """See Lease.release."""
        if not self._held:
            return False
        self._held = False
        assert self.key is not None
        args = [lease_id_argument(self.id)]
        return bool(await self._limiter.rl.call("RL.RELEASE", [self.key], args))

    async def __aenter__(self) -> AsyncLease:
        return await self.acquire()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.release()
        except self._limiter.errors as error:
            if not is_outage(error):
                raise self._refused("RL.RELEASE", error) from error
            self._release_failed(error)
