"""The framework-free limiter: `RateLimiter` (redis-py) and `AsyncRateLimiter` (asyncio).

All the limits of one request go to the server as one RL.MHIT (one atomic round trip), or one
RL.HIT when there is a single one. Keys are hash-tagged by identity so that every limit of an
identity shares a cluster slot:

    rl:{<identity>}:<scope>:<limit>/<window seconds>        with the module
    rl:lua:{<identity>}:<scope>:<limit>/<window seconds>    with the script fallback

(the two keep different state, so they never share a key; a deployment that moves from the
script to the module starts its limits afresh, and the script's keys expire by themselves).
The identity is escaped inside the braces ("{", "}" and "%" as %7B, %7D, %25; an empty one
as "%"), so that it always makes the hash tag. Concurrency leases (`lease()`, see `leases`)
are kept under `<prefix>:{<identity>}:<scope>:leases`.

A request is split into several calls only when it has to be: limits with different costs,
or (in a cluster) different identities, since one RL.MHIT takes one cost and one slot.
Those calls are made in turn; one denying does not give back what an earlier one consumed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.typing import EncodableT, KeyT

from .commands import (
    MAX_MHIT_KEYS,
    RL,
    AsyncClient,
    AsyncRL,
    BackendName,
    LeaseId,
    ResolvedBackend,
    SyncClient,
    Window,
    hit_arguments,
    mhit_arguments,
)
from .config import LimitsConfig
from .decision import Decision
from .failure import (
    Backoff,
    OnError,
    RateLimiterUnavailable,
    RateLimitRequestError,
    check_on_error,
    is_outage,
)
from .leases import DEFAULT_POLL, AsyncLease, Lease
from .limits import Limit, LimitRequest, LimitsArg, resolve_limits
from .rates import Rate
from .result import Policy, RateLimitResult

# What Redis (or the way to it) can raise: `is_outage` tells the failures (on_error and the
# back-off) from the errors about the request itself (raised as RateLimitRequestError).
REDIS_ERRORS = (redis.RedisError, RedisClusterException)

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_TIMEOUT",
    "AsyncRateLimiter",
    "RateLimiter",
    "key_for",
    "lease_key_for",
]

log = logging.getLogger("redis_rl")

DEFAULT_TIMEOUT = 0.5
"""Seconds a client built from a URL waits to connect, and for each reply."""
DEFAULT_BACKOFF = 5.0
"""Seconds Redis is skipped after a failure."""
RETRIED = (redis.ConnectionError,)
"""What the client made from a URL retries (once, at once): a connection that failed (stale,
closed by a restart). Never a timeout: the command may have run, and RL.HIT run twice would
count the request twice."""


def _tag(identity: str) -> str:
    if identity == "":
        return "%"
    return identity.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def key_for(prefix: str, identity: str, scope: str, rate: Rate) -> str:
    """The key of one rate of one identity: `<prefix>:{<identity>}:<scope>:<limit>/<seconds>`."""
    return f"{prefix}:{{{_tag(identity)}}}:{scope}:{rate.limit}/{rate.seconds}"


def lease_key_for(prefix: str, identity: str, scope: str) -> str:
    """The key of the leases of one identity: `<prefix>:{<identity>}:<scope>:leases`. The limit
    is not in it: leases held under a higher limit count against a lower one."""
    return f"{prefix}:{{{_tag(identity)}}}:{scope}:leases"


class _Check(NamedTuple):
    key: str
    rate: Rate
    limit: Limit
    identity: str
    cost: int
    policy: Policy


class _Call(NamedTuple):
    command: str
    keys: list[KeyT]
    args: list[EncodableT]
    checks: list[_Check]


class _Round:
    """The pure part of deciding one request: policy names, keys and calls, and what the
    replies mean. The limiters add the I/O around it."""

    def __init__(self, requests: Sequence[LimitRequest], on_error: OnError) -> None:
        self.requests = requests
        self.on_error = on_error
        seen: set[tuple[str, str, int, int]] = set()
        entries: list[tuple[LimitRequest, Rate]] = []
        for request in requests:
            if isinstance(request.cost, bool) or not isinstance(request.cost, int):
                raise ValueError(f"cost must be an integer, not {request.cost!r}")
            if request.cost < 0:
                raise ValueError(f"cost must be at least 0, not {request.cost}")
            if not isinstance(request.identity, str):
                raise ValueError(f"identity must be a string, not {request.identity!r}")
            for rate in request.limit.rates:
                # The same rate of the same scope and identity is one key: check it once.
                marker = (request.identity, request.limit.scope, rate.limit, rate.seconds)
                if marker not in seen:
                    seen.add(marker)
                    entries.append((request, rate))
        self.entries = entries
        self.policies = _policies(entries)

    @property
    def free(self) -> bool:
        """Nothing to ask: no limits, or every limit costs 0."""
        return all(request.cost == 0 for request, _ in self.entries)

    def free_result(self) -> RateLimitResult:
        return RateLimitResult(True, tuple(self.policies))

    def calls(self, prefix: str, cluster: bool) -> list[_Call]:
        groups: dict[tuple[int, str | None], list[_Check]] = {}
        for (request, rate), policy in zip(self.entries, self.policies, strict=True):
            if request.cost == 0:
                continue
            key = key_for(prefix, request.identity, request.limit.scope, rate)
            check = _Check(key, rate, request.limit, request.identity, request.cost, policy)
            group = (request.cost, request.identity if cluster else None)
            groups.setdefault(group, []).append(check)
        calls = []
        for (cost, _), checks in groups.items():
            for start in range(0, len(checks), MAX_MHIT_KEYS):
                calls.append(_call(checks[start : start + MAX_MHIT_KEYS], cost))
        return calls

    def conclude(self, calls: Sequence[_Call], decisions: Sequence[Decision]) -> RateLimitResult:
        pairs = []
        for call, decision in zip(calls, decisions, strict=True):
            index = 0 if decision.position is None else decision.position - 1
            pairs.append((decision, call.checks[index]))
        decision, check = _deciding(pairs)
        allowed = all(d.allowed for d, _ in pairs)
        return RateLimitResult(allowed, tuple(self.policies), decision, check.policy, check.rate)

    def refused(self, call: _Call | None, error: BaseException) -> RateLimitRequestError:
        """The server's error about the request itself, naming the limits of `call` (None:
        the error came before any limit was sent, while finding the backend)."""
        if call is None:
            return RateLimitRequestError("the limits", ["(no key yet)"], [""], error)
        described = [
            str(c.rate) + (f", algorithm {c.limit.algorithm}" if c.limit.algorithm else "")
            for c in call.checks
        ]
        return RateLimitRequestError(call.command, [c.key for c in call.checks], described, error)

    def unavailable(self, error: BaseException, retry_in: float) -> RateLimitResult:
        """Redis cannot decide: the limits' on_error does (any "raise" raises, else any
        "deny" refuses, else the request is admitted)."""
        modes = {request.limit.on_error or self.on_error for request, _ in self.entries}
        if "raise" in modes:
            raise RateLimiterUnavailable(
                f"Redis cannot decide ({type(error).__name__}: {error}); "
                f"asking it again in {retry_in:.1f} s",
                retry_in,
            ) from error
        return RateLimitResult(
            "deny" not in modes, tuple(self.policies), error=error, unavailable_for=retry_in
        )


def _call(checks: list[_Check], cost: int) -> _Call:
    if len(checks) == 1:
        check = checks[0]
        limit = check.limit
        args = hit_arguments(
            check.rate.limit, check.rate.seconds, cost, limit.algorithm, limit.burst
        )
        return _Call("RL.HIT", [check.key], args, checks)
    keys, args = mhit_arguments(
        [(c.key, c.rate.limit, c.rate.seconds, c.limit.algorithm, c.limit.burst) for c in checks],
        cost,
    )
    return _Call("RL.MHIT", keys, args, checks)


def _policies(entries: Sequence[tuple[LimitRequest, Rate]]) -> list[Policy]:
    """One policy per rate, named after it ("per-minute"); names that would repeat get the
    scope in front ("search-per-minute"), and a number if they still do."""
    plain = [rate.name for _, rate in entries]
    used: set[str] = set()
    policies = []
    for (request, rate), name in zip(entries, plain, strict=True):
        if plain.count(name) > 1:
            name = f"{request.limit.scope}-{name}"
        unique, number = name, 2
        while unique in used:
            unique, number = f"{name}-{number}", number + 1
        used.add(unique)
        policies.append(Policy(unique, rate.limit, rate.seconds, request.limit.scope))
    return policies


def _deciding(pairs: Sequence[tuple[Decision, _Check]]) -> tuple[Decision, _Check]:
    """Across calls, as RL.MHIT does within one: when denied, the denial that waits longest
    (never first); when admitted, the limit with the fewest units left."""
    denied = [pair for pair in pairs if not pair[0].allowed]
    if denied:
        never = [pair for pair in denied if pair[0].retry_after_ms is None]
        return never[0] if never else max(denied, key=lambda p: p[0].retry_after_ms or 0)
    return min(pairs, key=lambda pair: pair[0].remaining)


def _connection_settings(client: Any) -> dict[str, Any]:
    if isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)):
        manager = getattr(client, "nodes_manager", None)
        return dict(getattr(manager, "connection_kwargs", {}) or {})
    pool = getattr(client, "connection_pool", None)
    return dict(getattr(pool, "connection_kwargs", {}) or {})


def _warn_if_slow(client: Any) -> None:
    """Warns once per limiter when a failing Redis would hold requests for long: the first
    request of each back-off period waits for the client's timeouts and retries."""
    settings = _connection_settings(client)
    timeout = settings.get("socket_timeout")
    retry = settings.get("retry")
    retries = retry.get_retries() if retry is not None and hasattr(retry, "get_retries") else 0
    if timeout is None or timeout > 1 or retries > 1:
        log.warning(
            "redis-rl: the Redis client waits %s for each reply and retries %d times: while "
            "Redis hangs, a request can wait that long. Give the limiter a URL (it makes a "
            "client with a %.1f s timeout and one retry), or set socket_timeout and retry",
            "without limit" if timeout is None else f"{timeout} s",
            retries,
            DEFAULT_TIMEOUT,
        )


class _Options:
    """The settings both limiters share."""

    errors = REDIS_ERRORS
    """What Redis (or the way to it) can raise; `is_outage` tells which are failures."""

    def __init__(
        self,
        config: LimitsConfig | Any,
        on_error: OnError,
        backoff: float,
        key_prefix: str,
        clock: Callable[[], float],
    ) -> None:
        self.config = LimitsConfig.load(config)
        self.on_error: OnError = check_on_error(on_error)
        self.backoff = Backoff(backoff, clock=clock)
        if not key_prefix or "{" in key_prefix or "}" in key_prefix:
            raise ValueError(
                f"key_prefix must be non-empty text without braces, not {key_prefix!r}"
            )
        self.key_prefix = key_prefix

    def prefix(self, backend: ResolvedBackend) -> str:
        return self.key_prefix if backend == "module" else f"{self.key_prefix}:lua"

    def requests(
        self,
        identity: str,
        limits: LimitsArg,
        scope: str | None,
        cost: int,
        plan: str | None,
        use_plan: bool,
        on_error: OnError | None,
    ) -> list[LimitRequest]:
        resolved = resolve_limits(
            limits, self.config, scope=scope, plan=plan, use_plan=use_plan, on_error=on_error
        )
        return [LimitRequest(limit, identity, cost) for limit in resolved]


class RateLimiter(_Options):
    """Rate limits for any code, over a redis-py client or a Redis URL.

    >>> limiter = RateLimiter("redis://localhost:6379/0")
    >>> result = limiter.hit("user:42", "10/second;1000/day")
    >>> result.allowed, result.remaining, result.retry_after

    `client`: a `redis.Redis` or `RedisCluster`, or a URL (the client made from it waits at
    most `timeout` seconds to connect and for each reply, and retries once at once after a
    connection error, never after a timeout: the command may have run).
    `config`: limits kept in configuration (a LimitsConfig, a mapping or a file path).
    `backend`: "auto" (the module when the server has it, else the Lua script), "module",
    "script" or "function". `on_error`: what a Redis failure decides ("allow", "deny" or
    "raise"), unless a limit says otherwise; after a failure Redis is skipped for `backoff`
    seconds. `key_prefix`: the first part of every key.
    """

    def __init__(
        self,
        client: SyncClient | str,
        *,
        config: LimitsConfig | Any = None,
        backend: BackendName = "auto",
        on_error: OnError = "allow",
        backoff: float = DEFAULT_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        key_prefix: str = "rl",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, on_error, backoff, key_prefix, clock)
        self._owns_client = isinstance(client, str)
        if isinstance(client, str):
            client = redis.Redis.from_url(
                client,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=redis.retry.Retry(NoBackoff(), 1, supported_errors=RETRIED),
            )
        else:
            _warn_if_slow(client)
        self.client = client
        self.rl = RL(client, backend)
        self._cluster = isinstance(client, redis.cluster.RedisCluster)

    def hit(
        self,
        identity: str,
        limits: LimitsArg = None,
        *,
        scope: str | None = None,
        cost: int = 1,
        plan: str | None = None,
        use_plan: bool = False,
        on_error: OnError | None = None,
    ) -> RateLimitResult:
        """Checks and consumes `cost` units of `identity`'s limits, all or nothing.

        `limits`: rate strings ("10/second;1000/day"), names from the configuration, Limit
        objects, or a list of them; the configuration's default when None. `plan` (or
        `use_plan=True` with plan None for the default plan) adds that plan's rates.
        """
        use_plan = use_plan or plan is not None
        return self.hit_many(self.requests(identity, limits, scope, cost, plan, use_plan, on_error))

    def hit_many(self, requests: Iterable[LimitRequest]) -> RateLimitResult:
        """Decides several limits of possibly different identities and costs at once."""
        round_ = _Round(list(requests), self.on_error)
        if round_.free:
            return round_.free_result()
        backoff = self.backoff
        if backoff.skipping() and backoff.last_error is not None:
            return round_.unavailable(backoff.last_error, backoff.remaining())
        call: _Call | None = None
        decisions: list[Decision] = []
        try:
            calls = round_.calls(self.prefix(self.rl.backend), self._cluster)
            for call in calls:
                reply = self.rl.call(call.command, call.keys, call.args)
                decisions.append(Decision.from_reply(reply, call.command))
        except REDIS_ERRORS as error:
            if not is_outage(error):
                backoff.succeeded()  # Redis answered
                raise round_.refused(call, error) from error
            backoff.failed(error)
            return round_.unavailable(error, backoff.remaining())
        backoff.succeeded()
        return round_.conclude(calls, decisions)

    def lease_key(self, identity: str, scope: str = "default") -> str:
        """The key of `identity`'s leases (asks the server for its backend with "auto")."""
        return lease_key_for(self.prefix(self.rl.backend), identity, scope)

    def lease(
        self,
        identity: str,
        limit: int,
        lease: Window,
        *,
        scope: str = "default",
        cost: int = 1,
        id: LeaseId | None = None,
        wait: float = 0,
        poll: float = DEFAULT_POLL,
        on_error: OnError | None = None,
    ) -> Lease:
        """A lease on `cost` of the `limit` units `identity` may hold at once, for `with`:

        >>> with limiter.lease("tenant:7", limit=5, lease="30s") as lease:
        ...     run_job()
        ...     lease.renew()  # another 30 s

        Taken when the block is entered, given back when it is left (also on an exception);
        `lease` is how long it holds unless renewed or released (seconds, a timedelta or a
        duration text). No room: LeaseDenied at once, or after waiting up to `wait` seconds,
        asking again every `poll` seconds. `id`: the lease's own id (default: 16 random hex
        digits made here, so that asking again is the same holder). `scope` names the count
        (one per scope and identity). `on_error`: what a Redis failure decides (default: the
        limiter's), see `redis_rl.leases`.
        """
        return Lease(
            self,
            identity,
            limit,
            lease,
            scope=scope,
            cost=cost,
            id=id,
            wait=wait,
            poll=poll,
            on_error=on_error or self.on_error,
        )

    def close(self) -> None:
        """Closes the client the limiter made from a URL (one passed in stays open)."""
        if self._owns_client:
            self.client.close()


class AsyncRateLimiter(_Options):
    """RateLimiter for asyncio code, over a redis.asyncio client or a URL; same options."""

    def __init__(
        self,
        client: AsyncClient | str,
        *,
        config: LimitsConfig | Any = None,
        backend: BackendName = "auto",
        on_error: OnError = "allow",
        backoff: float = DEFAULT_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        key_prefix: str = "rl",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, on_error, backoff, key_prefix, clock)
        self._owns_client = isinstance(client, str)
        if isinstance(client, str):
            client = redis.asyncio.Redis.from_url(
                client,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=redis.asyncio.retry.Retry(NoBackoff(), 1, supported_errors=RETRIED),
            )
        else:
            _warn_if_slow(client)
        self.client = client
        self.rl = AsyncRL(client, backend)
        self._cluster = isinstance(client, redis.asyncio.cluster.RedisCluster)

    async def hit(
        self,
        identity: str,
        limits: LimitsArg = None,
        *,
        scope: str | None = None,
        cost: int = 1,
        plan: str | None = None,
        use_plan: bool = False,
        on_error: OnError | None = None,
    ) -> RateLimitResult:
        """See RateLimiter.hit."""
        use_plan = use_plan or plan is not None
        return await self.hit_many(
            self.requests(identity, limits, scope, cost, plan, use_plan, on_error)
        )

    async def hit_many(self, requests: Iterable[LimitRequest]) -> RateLimitResult:
        """See RateLimiter.hit_many."""
        round_ = _Round(list(requests), self.on_error)
        if round_.free:
            return round_.free_result()
        backoff = self.backoff
        if backoff.skipping() and backoff.last_error is not None:
            return round_.unavailable(backoff.last_error, backoff.remaining())
        call: _Call | None = None
        decisions: list[Decision] = []
        try:
            calls = round_.calls(self.prefix(await self.rl.resolve_backend()), self._cluster)
            for call in calls:
                reply = await self.rl.call(call.command, call.keys, call.args)
                decisions.append(Decision.from_reply(reply, call.command))
        except REDIS_ERRORS as error:
            if not is_outage(error):
                backoff.succeeded()  # Redis answered
                raise round_.refused(call, error) from error
            backoff.failed(error)
            return round_.unavailable(error, backoff.remaining())
        backoff.succeeded()
        return round_.conclude(calls, decisions)

    async def lease_key(self, identity: str, scope: str = "default") -> str:
        """See RateLimiter.lease_key."""
        return lease_key_for(self.prefix(await self.rl.resolve_backend()), identity, scope)

    def lease(
        self,
        identity: str,
        limit: int,
        lease: Window,
        *,
        scope: str = "default",
        cost: int = 1,
        id: LeaseId | None = None,
        wait: float = 0,
        poll: float = DEFAULT_POLL,
        on_error: OnError | None = None,
    ) -> AsyncLease:
        """RateLimiter.lease for `async with` (waiting without blocking the event loop)."""
        return AsyncLease(
            self,
            identity,
            limit,
            lease,
            scope=scope,
            cost=cost,
            id=id,
            wait=wait,
            poll=poll,
            on_error=on_error or self.on_error,
        )

    async def aclose(self) -> None:
        """Closes the client the limiter made from a URL (one passed in stays open)."""
        if self._owns_client:
            await self.client.aclose()
