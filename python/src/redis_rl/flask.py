"""Flask integration: `FlaskRateLimiter(app)` or `FlaskRateLimiter()` + `init_app(app)`.

    limiter = FlaskRateLimiter(app, redis_url="redis://localhost:6379/0")

    @app.get("/api/data")
    @limiter.limit("10/minute", key_func=lambda: request.headers["X-API-Key"])
    def data(): ...

Every limit a request meets is decided in one round trip before the view runs. The result is
in `g.rate_limit` for the view; every response of a limited route carries the RateLimit
fields; a refused request gets a 429 (or a 503 when Redis failed and a limit says
`on_error="deny"`) with `Retry-After` and an application/problem+json body.

Settings, from the constructor or else the app's config:

    RL_REDIS_URL        the server (default redis://localhost:6379/0), unless `redis=` is given
    RL_CONFIG           limits configuration: a mapping or a JSON/TOML/YAML file path
    RL_DEFAULT_LIMITS   limits for routes that declare none (default: the configuration's)
    RL_HEADERS          "ietf" (default), "legacy" (X-RateLimit-*), "both" or "none"
    RL_BACKEND          "auto" (default), "module", "script" or "function"
    RL_ON_ERROR         "allow" (default), "deny" or "raise": what a Redis failure decides
    RL_BACKOFF          seconds Redis is skipped after a failure (default 5)
    RL_TIMEOUT          socket timeout of the client made from the URL (default 0.5)
    RL_KEY_PREFIX       first part of every key (default "rl")
    RL_ENABLED          False turns limiting off (default True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from .cache import BoundedCache
from .commands import Algorithm, BackendName, LeaseId, SyncClient, Window
from .config import LimitsConfig
from .failure import OnError, check_on_error
from .headers import (
    PROBLEM_CONTENT_TYPE,
    HeaderStyle,
    check_header_style,
    problem,
    problem_json,
    rate_limit_headers,
)
from .leases import DEFAULT_POLL, Lease
from .limiter import DEFAULT_BACKOFF, DEFAULT_TIMEOUT, RateLimiter
from .limits import (
    Limit,
    LimitRequest,
    LimitsArg,
    check_algorithm,
    is_limit_name,
    limit_items,
    resolve_limits,
)
from .rates import Rate, parse_rates
from .result import RateLimitResult

__all__ = [
    "FlaskRateLimiter",
    "RateLimitExceeded",
    "RateLimitUnavailable",
    "remote_address",
]

F = TypeVar("F", bound=Callable[..., Any])
KeyFunc = Callable[[], str]
Cost = int | Callable[[], int]
EXTENSION = "redis_rl"


def remote_address() -> str:
    """The client's address as the WSGI server saw it. Behind a proxy this is the proxy's:
    wrap the app in werkzeug's ProxyFix (`app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)`,
    with as many hops as you have trusted proxies) so that it is the client's again."""
    return request.remote_addr or "127.0.0.1"


class RateLimitExceeded(TooManyRequests):
    """A request over its quota: 429 with a problem+json body. `result` says why."""

    def __init__(self, result: RateLimitResult) -> None:
        super().__init__(description=str(_problem_detail(result)))
        self.result = result

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        return Response(problem_json(self.result), self.code, mimetype=PROBLEM_CONTENT_TYPE)


class RateLimitUnavailable(ServiceUnavailable):
    """A request refused because Redis failed and a limit says on_error="deny": 503."""

    def __init__(self, result: RateLimitResult) -> None:
        super().__init__(description=str(_problem_detail(result)))
        self.result = result

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        return Response(problem_json(self.result), self.code, mimetype=PROBLEM_CONTENT_TYPE)


def _problem_detail(result: RateLimitResult) -> object:
    return problem(result)["detail"]


@dataclass(eq=False)
class _Declared:
    """What one `limit` / `shared_limit` decorator (or the defaults) declared."""

    items: tuple[str | Rate | Limit, ...]
    shared_scope: str | None = None
    key_func: KeyFunc | None = None
    cost: Cost = 1
    per_method: bool = False
    methods: frozenset[str] | None = None
    exempt_when: Callable[[], bool] | None = None
    on_error: OnError | None = None
    plan: Callable[[], str | None] | None = None
    algorithm: Algorithm | None = None
    burst: int | None = None

    def names(self) -> list[str]:
        return [item for item in self.items if isinstance(item, str)]

    def limits(self, config: LimitsConfig, scope: str, plan: str | None) -> list[Limit]:
        return resolve_limits(
            list(self.items),
            config,
            scope=scope,
            plan=plan,
            use_plan=self.plan is not None,
            algorithm=self.algorithm,
            burst=self.burst,
            on_error=self.on_error,
        )


def _declare(limits: LimitsArg, **options: Any) -> _Declared:
    """Parses rate strings now (a bad one fails at import, naming it); configured names are
    checked when the app's configuration is known."""
    raw = limit_items(limits)
    items: list[str | Rate | Limit] = []
    for item in raw:
        if isinstance(item, str) and not is_limit_name(item):
            items.extend(parse_rates(item))
        elif isinstance(item, (str, Rate, Limit)):
            items.append(item.strip() if isinstance(item, str) else item)
        else:
            raise ValueError(f"expected rate strings, Rate or Limit objects, not {item!r}")
    if not items and options.get("plan") is None:
        raise ValueError("a limit needs rates (such as '10/minute'), a configured name or a plan")
    cost = options.get("cost", 1)
    if not callable(cost) and (isinstance(cost, bool) or not isinstance(cost, int) or cost < 0):
        raise ValueError(f"cost must be an integer of at least 0 or a callable, not {cost!r}")
    if options.get("on_error") is not None:
        check_on_error(options["on_error"])
    check_algorithm(options.get("algorithm"), options.get("burst"))
    methods = options.pop("methods", None)
    if methods is not None:
        methods = frozenset(m.upper() for m in methods)
    return _Declared(tuple(items), methods=methods, **options)


@dataclass(eq=False)
class _State:
    """The extension's settings for one app."""

    limiter: RateLimiter
    headers: HeaderStyle
    key_func: KeyFunc
    enabled: bool
    defaults: list[_Declared]
    cache: BoundedCache[tuple[int, str, str | None], list[Limit]] = field(
        default_factory=BoundedCache
    )


def _setting(name: str, given: Any, app: Flask, default: Any) -> Any:
    if given is not None:
        return given
    return app.config.get(name, default)


class FlaskRateLimiter:
    """Rate limits for a Flask app. See the module documentation for the settings."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        redis: SyncClient | None = None,
        redis_url: str | None = None,
        key_func: KeyFunc = remote_address,
        default_limits: LimitsArg = None,
        config: LimitsConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        headers: HeaderStyle | None = None,
        backend: BackendName | None = None,
        on_error: OnError | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        key_prefix: str | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._client = redis
        self._redis_url = redis_url
        self._key_func = key_func
        self._default_limits = default_limits
        self._config = config
        self._headers = None if headers is None else check_header_style(headers)
        self._backend = backend
        self._on_error = None if on_error is None else check_on_error(on_error)
        self._backoff = backoff
        self._timeout = timeout
        self._key_prefix = key_prefix
        self._enabled = enabled
        self._route_limits: dict[Callable[..., Any], list[_Declared]] = {}
        self._exempt: set[Callable[..., Any]] = set()
        self._configs: list[LimitsConfig] = []
        if app is not None:
            self.init_app(app)

    # --- set-up ----------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        config = LimitsConfig.load(_setting("RL_CONFIG", self._config, app, None))
        default_limits = _setting("RL_DEFAULT_LIMITS", self._default_limits, app, None)
        defaults = [] if default_limits is None else [_declare(default_limits)]
        if not defaults and config.default:
            defaults = [_declare(list(config.default))]
        client = self._client or _setting("RL_REDIS_URL", self._redis_url, app, None)
        limiter = RateLimiter(
            client or "redis://localhost:6379/0",
            config=config,
            backend=_setting("RL_BACKEND", self._backend, app, "auto"),
            on_error=_setting("RL_ON_ERROR", self._on_error, app, "allow"),
            backoff=float(_setting("RL_BACKOFF", self._backoff, app, DEFAULT_BACKOFF)),
            timeout=float(_setting("RL_TIMEOUT", self._timeout, app, DEFAULT_TIMEOUT)),
            key_prefix=_setting("RL_KEY_PREFIX", self._key_prefix, app, "rl"),
        )
        state = _State(
            limiter=limiter,
            headers=check_header_style(_setting("RL_HEADERS", self._headers, app, "ietf")),
            key_func=self._key_func,
            enabled=bool(_setting("RL_ENABLED", self._enabled, app, True)),
            defaults=defaults,
        )
        for declared in [*defaults, *(d for ds in self._route_limits.values() for d in ds)]:
            self._check_names(declared, config)
        self._configs.append(config)
        app.extensions[EXTENSION] = state
        app.before_request(self._before_request)
        app.after_request(self._after_request)

    @staticmethod
    def _check_names(declared: _Declared, config: LimitsConfig) -> None:
        for name in declared.names():
            if name not in config.limits:
                known = ", ".join(config.limits) or "none configured"
                raise ValueError(
                    f"{name!r} is neither a rate such as '10/minute' nor the name of a "
                    f"configured limit (named limits: {known})"
                )

    def limiter_for(self, app: Flask | None = None) -> RateLimiter:
        """The RateLimiter serving `app` (default: the current app)."""
        return self._state(app or current_app).limiter

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
        """A concurrency lease on the current app's limiter, for `with` (see
        RateLimiter.lease): `with limiter.lease("tenant:7", limit=5, lease="30s") as lease:`."""
        return self.limiter_for().lease(
            identity,
            limit,
            lease,
            scope=scope,
            cost=cost,
            id=id,
            wait=wait,
            poll=poll,
            on_error=on_error,
        )

    @staticmethod
    def _state(app: Flask) -> _State:
        try:
            return cast(_State, app.extensions[EXTENSION])
        except KeyError:
            raise RuntimeError("FlaskRateLimiter.init_app(app) was not called") from None

    # --- declarations ----------------------------------------------------------------------

    def limit(
        self,
        limits: LimitsArg = None,
        *,
        key_func: KeyFunc | None = None,
        cost: Cost = 1,
        scope: str | None = None,
        per_method: bool = False,
        methods: Iterable[str] | None = None,
        exempt_when: Callable[[], bool] | None = None,
        on_error: OnError | None = None,
        plan: Callable[[], str | None] | None = None,
        algorithm: Algorithm | None = None,
        burst: int | None = None,
    ) -> Callable[[F], F]:
        """Limits a view, per endpoint (or under `scope`).

        `limits`: rate strings ("10/second;1000/day"), configured names, or Limit objects.
        `key_func`: who is limited (default: the extension's, the remote address).
        `cost`: units per request, or a callable computing them (0 counts nothing).
        `per_method`: a separate count per HTTP method; `methods`: only these are limited.
        `exempt_when`: a callable; True skips the limit for this request.
        `plan`: a callable naming the request's plan: adds that plan's rates from the
        configuration (`plans`), or the default plan's.
        """
        declared = _declare(
            limits,
            shared_scope=scope,
            key_func=key_func,
            cost=cost,
            per_method=per_method,
            methods=methods,
            exempt_when=exempt_when,
            on_error=on_error,
            plan=plan,
            algorithm=algorithm,
            burst=burst,
        )
        for config in self._configs:
            self._check_names(declared, config)

        def decorate(view: F) -> F:
            if isinstance(view, Blueprint):
                raise TypeError(
                    "limit() decorates view functions; for every view of a blueprint, use "
                    "default_limits or decorate each view"
                )
            self._route_limits.setdefault(view, []).append(declared)
            return view

        return decorate

    def shared_limit(self, limits: LimitsArg, scope: str, **options: Any) -> Callable[[F], F]:
        """A limit counted once across every route it decorates (they share `scope`)."""
        if not scope:
            raise ValueError("a shared limit needs a scope naming it")
        return self.limit(limits, scope=scope, **options)

    def exempt(self, view: F) -> F:
        """No limit applies to this view, not even the defaults."""
        self._exempt.add(view)
        return view

    # --- per request -----------------------------------------------------------------------

    def _declared_for(self, view: Callable[..., Any]) -> list[_Declared] | None:
        """The view's declarations (following functools.wraps); None when exempt."""
        found: list[_Declared] = []
        current: Any = view
        while current is not None:
            if current in self._exempt:
                return None
            found.extend(self._route_limits.get(current, ()))
            current = getattr(current, "__wrapped__", None)
        return found

    def _before_request(self) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        state = self._state(app)
        endpoint = request.endpoint
        if not state.enabled or endpoint is None or endpoint.rsplit(".", 1)[-1] == "static":
            return
        view = app.view_functions.get(endpoint)
        if view is None:
            return
        declared = self._declared_for(view)
        if declared is None:
            return
        requests = self._requests(state, declared or state.defaults, endpoint)
        if not requests:
            return
        result = state.limiter.hit_many(requests)
        g.rate_limit = result
        if not result.allowed:
            if result.decision is None:
                raise RateLimitUnavailable(result)
            raise RateLimitExceeded(result)

    def _requests(
        self, state: _State, declared: list[_Declared], endpoint: str
    ) -> list[LimitRequest]:
        method = request.method
        requests = []
        for item in declared:
            if item.methods is not None and method not in item.methods:
                continue
            if item.exempt_when is not None and item.exempt_when():
                continue
            scope = item.shared_scope or endpoint
            if item.per_method:
                scope = f"{scope}:{method}"
            plan = None
            if item.plan is not None:
                # Known plans only in the cache key: unknown names fall back to the default.
                plan = state.limiter.config.plan(item.plan())[0]
            limits = state.cache.get(
                (id(item), scope, plan),
                lambda: item.limits(state.limiter.config, scope, plan),  # noqa: B023 (called at once)
            )
            identity = (item.key_func or state.key_func)()
            cost = item.cost() if callable(item.cost) else item.cost
            requests += [LimitRequest(limit, identity, cost) for limit in limits]
        return requests

    def _after_request(self, response: Response) -> Response:
        result: RateLimitResult | None = g.get("rate_limit")
        if result is None:
            return response
        # With headers="none", a refused request still gets its Retry-After.
        for name, value in rate_limit_headers(result, self._state(current_app).headers):
            response.headers[name] = value
        return response
