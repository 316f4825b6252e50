"""ASGI integration (Starlette, FastAPI): a middleware for app-wide limits and a FastAPI
dependency for per-route ones, with the Flask extension's options and headers. Fully async:
redis.asyncio underneath, and key or cost functions may be coroutines.

    limiter = AsyncRateLimiter("redis://localhost:6379/0")
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, limiter=limiter, limits="100/minute")
    app.add_exception_handler(RateLimitExceeded, problem_response)

    @app.get("/api/data", dependencies=[Depends(RateLimit(limiter, "10/minute"))])
    async def data(): ...

The result is in `request.state.rate_limit`. Refused requests get a 429 (a 503 when Redis
failed and a limit says on_error="deny") with the RateLimit fields and Retry-After; their body
is application/problem+json from the middleware, and from the dependency once
`problem_response` handles `RateLimitExceeded` (without it, the framework's JSON error).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .cache import BoundedCache
from .commands import Algorithm
from .failure import OnError, check_on_error
from .headers import (
    PROBLEM_CONTENT_TYPE,
    HeaderStyle,
    check_header_style,
    names_taken,
    problem,
    problem_json,
    rate_limit_headers,
    renamed_apart,
    status,
)
from .limiter import AsyncRateLimiter
from .limits import Limit, LimitRequest, LimitsArg, check_algorithm, resolve_limits
from .result import RateLimitResult

__all__ = [
    "Cost",
    "ExemptFunc",
    "KeyFunc",
    "PlanFunc",
    "RateLimit",
    "RateLimitExceeded",
    "RateLimitMiddleware",
    "problem_response",
    "remote_address",
]

KeyFunc = Callable[[Request], "str | Awaitable[str]"]
Cost = int | Callable[[Request], "int | Awaitable[int]"]
PlanFunc = Callable[[Request], "str | Awaitable[str | None] | None"]
ExemptFunc = Callable[[Request], "bool | Awaitable[bool]"]


def remote_address(request: Request) -> str:
    """The peer's address. Behind a trusted proxy run uvicorn with --proxy-headers and
    --forwarded-allow-ips so that it is the client's."""
    return request.client.host if request.client else "127.0.0.1"


class RateLimitExceeded(HTTPException):
    """A refused request (429, or 503 when Redis failed and on_error="deny")."""

    def __init__(self, result: RateLimitResult, headers: dict[str, str]) -> None:
        super().__init__(status(result), detail=str(problem(result)["detail"]), headers=headers)
        self.result = result


async def problem_response(request: Request, exc: Exception) -> Response:
    """An exception handler answering RateLimitExceeded with an application/problem+json
    body: `app.add_exception_handler(RateLimitExceeded, problem_response)`."""
    if not isinstance(exc, RateLimitExceeded):
        raise exc
    return Response(
        problem_json(exc.result),
        exc.status_code,
        headers=exc.headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


async def _value(function: Callable[[Request], Any], request: Request) -> Any:
    value = function(request)
    if inspect.isawaitable(value):
        value = await value
    return value


class _Rule:
    """The options a middleware or a dependency was given, and the requests they make."""

    def __init__(
        self,
        limiter: AsyncRateLimiter,
        limits: LimitsArg,
        *,
        key_func: KeyFunc,
        cost: Cost,
        per_method: bool,
        methods: Iterable[str] | None,
        exempt_when: ExemptFunc | None,
        headers: HeaderStyle,
        on_error: OnError | None,
        plan: PlanFunc | None,
        algorithm: Algorithm | None,
        burst: int | None,
    ) -> None:
        if limits is None and plan is None and not limiter.config.default:
            raise ValueError("give limits (such as '10/minute') or a plan, or configure a default")
        if not callable(cost) and (isinstance(cost, bool) or not isinstance(cost, int) or cost < 0):
            raise ValueError(f"cost must be an integer of at least 0 or a callable, not {cost!r}")
        self.limiter = limiter
        self.limits = limits
        self.key_func = key_func
        self.cost = cost
        self.per_method = per_method
        self.methods = None if methods is None else frozenset(m.upper() for m in methods)
        self.exempt_when = exempt_when
        self.headers = check_header_style(headers)
        self.on_error = None if on_error is None else check_on_error(on_error)
        self.plan = plan
        self.algorithm = algorithm
        self.burst = burst
        check_algorithm(algorithm, burst)
        self._cache: BoundedCache[tuple[str, str | None], list[Limit]] = BoundedCache()
        # A bad rate or an unknown name fails now, not on every request.
        if limits is not None:
            resolve_limits(limits, limiter.config)
        if plan is not None and not limiter.config.plans:
            raise ValueError("a plan function needs plans in the limits configuration")

    def _resolve(self, scope: str, plan: str | None) -> list[Limit]:
        return self._cache.get(
            (scope, plan),
            lambda: resolve_limits(
                self.limits,
                self.limiter.config,
                scope=scope,
                plan=plan,
                use_plan=self.plan is not None,
                algorithm=self.algorithm,
                burst=self.burst,
                on_error=self.on_error,
            ),
        )

    async def applies(self, request: Request) -> bool:
        if self.methods is not None and request.method not in self.methods:
            return False
        return not (self.exempt_when is not None and await _value(self.exempt_when, request))

    async def decide(self, request: Request, scope: str) -> RateLimitResult:
        if self.per_method:
            scope = f"{scope}:{request.method}"
        plan = None
        if self.plan is not None:
            plan = self.limiter.config.plan(await _value(self.plan, request))[0]
        identity = await _value(self.key_func, request)
        cost = self.cost if isinstance(self.cost, int) else await _value(self.cost, request)
        requests = [LimitRequest(limit, identity, cost) for limit in self._resolve(scope, plan)]
        result = await self.limiter.hit_many(requests)
        request.state.rate_limit = result
        return result

    def fields(self, result: RateLimitResult) -> dict[str, str]:
        return dict(rate_limit_headers(result, self.headers))


class RateLimitMiddleware:
    """Limits every HTTP request of an ASGI app (exempt paths aside).

    `scope` names the count: by default one per identity for the whole app ("app");
    `per_path=True` counts each path apart. Other options as for the Flask extension.
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: AsyncRateLimiter,
        limits: LimitsArg = None,
        *,
        key_func: KeyFunc = remote_address,
        cost: Cost = 1,
        scope: str = "app",
        per_path: bool = False,
        per_method: bool = False,
        methods: Iterable[str] | None = None,
        exempt_paths: Iterable[str] = (),
        exempt_when: ExemptFunc | None = None,
        headers: HeaderStyle = "ietf",
        on_error: OnError | None = None,
        plan: PlanFunc | None = None,
        algorithm: Algorithm | None = None,
        burst: int | None = None,
    ) -> None:
        self.app = app
        self.scope = scope
        self.per_path = per_path
        self.exempt_paths = frozenset(exempt_paths)
        self.rule = _Rule(
            limiter,
            limits,
            key_func=key_func,
            cost=cost,
            per_method=per_method,
            methods=methods,
            exempt_when=exempt_when,
            headers=headers,
            on_error=on_error,
            plan=plan,
            algorithm=algorithm,
            burst=burst,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not await self.rule.applies(request):
            await self.app(scope, receive, send)
            return
        name = f"{self.scope}:{scope['path']}" if self.per_path else self.scope
        result = await self.rule.decide(request, name)
        fields = self.rule.fields(result)
        if not result.allowed:
            response = Response(
                problem_json(result), status(result), fields, media_type=PROBLEM_CONTENT_TYPE
            )
            await response(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start" and fields:
                headers = list(message.get("headers", []))
                present = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
                ours = self.rule.fields(renamed_apart(result, names_taken(present)))
                # A legacy field the route's limit sent already is kept: those are no lists.
                have = {name.lower() for name, _ in present}
                headers += [
                    (k.lower().encode(), v.encode("latin-1"))
                    for k, v in ours.items()
                    if not (k.lower().startswith("x-ratelimit-") and k.lower() in have)
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_fields)


class RateLimit:
    """A FastAPI dependency limiting one route (or, with a shared `scope`, several).

    `scope` defaults to the route's path template ("/items/{item_id}"). Returns the
    RateLimitResult; sets the fields on the response, or raises RateLimitExceeded.
    """

    def __init__(
        self,
        limiter: AsyncRateLimiter,
        limits: LimitsArg = None,
        *,
        key_func: KeyFunc = remote_address,
        cost: Cost = 1,
        scope: str | None = None,
        per_method: bool = False,
        methods: Iterable[str] | None = None,
        exempt_when: ExemptFunc | None = None,
        headers: HeaderStyle = "ietf",
        on_error: OnError | None = None,
        plan: PlanFunc | None = None,
        algorithm: Algorithm | None = None,
        burst: int | None = None,
    ) -> None:
        self.scope = scope
        self.rule = _Rule(
            limiter,
            limits,
            key_func=key_func,
            cost=cost,
            per_method=per_method,
            methods=methods,
            exempt_when=exempt_when,
            headers=headers,
            on_error=on_error,
            plan=plan,
            algorithm=algorithm,
            burst=burst,
        )

    async def __call__(self, request: Request, response: Response) -> RateLimitResult | None:
        if not await self.rule.applies(request):
            return None
        route = request.scope.get("route")
        scope = self.scope or getattr(route, "path", None) or request.url.path
        result = await self.rule.decide(request, scope)
        fields = self.rule.fields(result)
        if not result.allowed:
            raise RateLimitExceeded(result, fields)
        response.headers.update(fields)
        return result
