"""The ASGI integration over real HTTP: FastAPI apps under uvicorn (in a thread, with its own
event loop), with the middleware and the dependency, against real servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis
from fastapi import Depends, FastAPI, Request
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import redis_rl.cache
from redis_rl import AsyncRateLimiter, HeaderStyle, RateLimitResult
from redis_rl.asgi import (
    ExemptFunc,
    RateLimit,
    RateLimitExceeded,
    RateLimitMiddleware,
    problem_response,
)

import servers
from conftest import FrozenClock, closed_port, rl_calls, serve_asgi

PROBLEM = "application/problem+json"


async def api_key(request: Request) -> str:
    return request.headers.get("X-API-Key", "anonymous")


def middleware_app(url: str, **options: object) -> FastAPI:
    limiter = AsyncRateLimiter(url)
    app = FastAPI()
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        limits="3/minute;100/day",
        key_func=api_key,
        exempt_paths=["/health"],
        **options,  # type: ignore[arg-type]
    )

    @app.get("/api/data")
    async def data(request: Request) -> dict[str, object]:
        result: RateLimitResult = request.state.rate_limit
        return {"remaining": result.remaining}

    @app.get("/health")
    async def health() -> str:
        return "ok"

    return app


def dependency_app(url: str) -> FastAPI:
    limiter = AsyncRateLimiter(
        url, config={"plans": {"free": "1/minute", "pro": "3/minute"}, "default_plan": "free"}
    )
    app = FastAPI()
    app.add_exception_handler(RateLimitExceeded, problem_response)
    shared = RateLimit(limiter, "2/minute", key_func=api_key, scope="reports")

    async def size(request: Request) -> int:
        return int(request.query_params.get("n", "1"))

    @app.get("/items/{item_id}", dependencies=[Depends(RateLimit(limiter, "2/minute"))])
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @app.get("/daily", dependencies=[Depends(shared)])
    async def daily() -> str:
        return "daily"

    @app.get("/weekly", dependencies=[Depends(shared)])
    async def weekly() -> str:
        return "weekly"

    upload_limit = RateLimit(limiter, "10/minute", cost=size)
    plan_limit = RateLimit(limiter, key_func=api_key, plan=lambda r: r.headers.get("X-Plan"))

    @app.post("/upload")
    async def upload(result: RateLimitResult = Depends(upload_limit)) -> dict[str, object]:
        return {"remaining": result.remaining}

    @app.get("/plan")
    async def plan(result: RateLimitResult = Depends(plan_limit)) -> dict[str, object]:
        return {"quota": result.policy.quota if result.policy else None}

    return app


@pytest.fixture
def middleware_http(server: servers.Server, frozen: FrozenClock) -> Iterator[httpx.Client]:
    with serve_asgi(middleware_app(server.url())) as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.fixture
def dependency_http(server: servers.Server, frozen: FrozenClock) -> Iterator[httpx.Client]:
    with serve_asgi(dependency_app(server.url())) as url, httpx.Client(base_url=url) as http:
        yield http


def test_middleware_across_a_window(
    middleware_http: httpx.Client, frozen: FrozenClock, client: redis.Redis
) -> None:
    client.config_resetstat()
    key = {"X-API-Key": "k1"}
    for remaining in (2, 1, 0):
        response = middleware_http.get("/api/data", headers=key)
        assert response.status_code == 200 and response.json() == {"remaining": remaining}
        assert response.headers["RateLimit-Policy"] == (
            '"per-minute";q=3;w=60, "per-day";q=100;w=86400'
        )
        assert response.headers["RateLimit"].startswith(f'"per-minute";r={remaining};t=')
    assert rl_calls(client) == {"rl.mhit": 3}
    frozen.advance_ms(250)
    denied = middleware_http.get("/api/data", headers=key)
    assert denied.status_code == 429 and denied.headers["content-type"] == PROBLEM
    assert denied.headers["Retry-After"] == "60"
    assert denied.headers["RateLimit"] == '"per-minute";r=0;t=60'
    assert denied.json()["violated-policies"] == ["per-minute"]
    assert middleware_http.get("/api/data", headers={"X-API-Key": "k2"}).status_code == 200
    health = middleware_http.get("/health")
    assert health.status_code == 200 and "RateLimit" not in health.headers
    frozen.advance_ms(59_750 + frozen.slack_ms)
    assert middleware_http.get("/api/data", headers=key).status_code == 200


def test_dependency_per_route_shared_and_cost(
    dependency_http: httpx.Client, frozen: FrozenClock, client: redis.Redis
) -> None:
    assert [dependency_http.get("/items/1").status_code for _ in range(3)] == [200, 200, 429]
    # One count for the route, whichever item: the scope is the path template.
    assert dependency_http.get("/items/2").status_code == 429
    assert b"rl:{127.0.0.1}:/items/{item_id}:2/60" in client.keys("*")
    ok = dependency_http.get("/daily", headers={"X-API-Key": "a"})
    assert ok.headers["RateLimit-Policy"] == '"per-minute";q=2;w=60'
    assert ok.headers["RateLimit"].startswith('"per-minute";r=1;t=')
    assert dependency_http.get("/weekly", headers={"X-API-Key": "a"}).status_code == 200
    frozen.advance_ms(250)
    denied = dependency_http.get("/daily", headers={"X-API-Key": "a"})
    assert denied.status_code == 429 and denied.headers["content-type"] == PROBLEM
    assert denied.headers["Retry-After"] == "60"
    assert denied.json()["detail"] == "The per-minute quota (2 per 60 s) is used up; retry in 60 s."
    assert dependency_http.post("/upload", params={"n": 6}).json() == {"remaining": 4}
    never = dependency_http.post("/upload", params={"n": 11})
    assert never.status_code == 429 and "Retry-After" not in never.headers


def test_dependency_plans(dependency_http: httpx.Client) -> None:
    pro = {"X-API-Key": "p", "X-Plan": "pro"}
    assert dependency_http.get("/plan", headers=pro).json() == {"quota": 3}
    assert [dependency_http.get("/plan", headers=pro).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    free = {"X-API-Key": "f"}
    assert dependency_http.get("/plan", headers=free).json() == {"quota": 1}
    assert dependency_http.get("/plan", headers=free).status_code == 429


@pytest.mark.parametrize(("on_error", "status"), [("allow", 200), ("deny", 503)])
def test_middleware_with_redis_down(kind: servers.ServerKind, on_error: str, status: int) -> None:
    app = middleware_app(f"redis://127.0.0.1:{closed_port()}/0", on_error=on_error)
    with serve_asgi(app) as url, httpx.Client(base_url=url) as http:
        for _ in range(4):
            response = http.get("/api/data")
            assert response.status_code == status
            if status == 503:
                assert response.headers["content-type"] == PROBLEM
                assert response.json()["status"] == 503 and "Retry-After" in response.headers
            else:
                assert response.json() == {"remaining": None}
                assert "RateLimit" not in response.headers


def test_plain_starlette_with_legacy_headers(server: servers.Server, frozen: FrozenClock) -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])
    limiter = AsyncRateLimiter(server.url())
    wrapped = RateLimitMiddleware(app, limiter, "2/second", headers="legacy", per_path=True)
    with serve_asgi(wrapped) as url, httpx.Client(base_url=url) as http:
        first = http.get("/")
        assert first.text == "hello" and first.headers["X-RateLimit-Remaining"] == "1"
        assert "RateLimit" not in first.headers
        http.get("/")
        denied = http.get("/")
        assert denied.status_code == 429 and denied.headers["X-RateLimit-Remaining"] == "0"


def test_bad_declarations_fail_at_once(server: servers.Server) -> None:
    limiter = AsyncRateLimiter(server.url())
    with pytest.raises(ValueError, match="unknown time unit 'minuet'"):
        RateLimit(limiter, "1/minuet")
    with pytest.raises(ValueError, match="'serch' is neither a rate"):
        RateLimitMiddleware(PlainTextResponse("x"), limiter, "serch")
    with pytest.raises(ValueError, match="needs plans"):
        RateLimit(limiter, plan=lambda r: "pro")


def test_middleware_with_an_exact_limit(server: servers.Server, frozen: FrozenClock) -> None:
    """algorithm="log": requests at 0, 20 and 40 s; the fourth waits until the first is a
    minute old, and only that long."""
    app = middleware_app(server.url(), algorithm="log")
    key = {"X-API-Key": "k1"}
    with serve_asgi(app) as url, httpx.Client(base_url=url) as http:
        frozen.advance_ms(250)
        for step in (20_000, 20_000, 19_000):
            assert http.get("/api/data", headers=key).status_code == 200
            frozen.advance_ms(step)
        denied = http.get("/api/data", headers=key)  # at 59.25 s: the first ages out at 60.25
        assert denied.status_code == 429 and denied.headers["Retry-After"] == "1"
        frozen.advance_ms(1_000)
        assert http.get("/api/data", headers=key).status_code == 200
        assert http.get("/api/data", headers=key).headers["Retry-After"] == "20"
    keys = server.client().keys("rl:{k1}:*")
    assert len(keys) == 2 and {server.client().type(k) for k in keys} == {b"ratelimit"}


def vip(request: Request) -> bool:
    return request.headers.get("X-VIP") == "1"


async def async_vip(request: Request) -> bool:
    return vip(request)


@pytest.mark.parametrize("exempt_when", [vip, async_vip], ids=["plain", "async"])
def test_exempt_when_plain_or_async(
    server: servers.Server, frozen: FrozenClock, exempt_when: ExemptFunc
) -> None:
    limiter = AsyncRateLimiter(server.url())
    app = FastAPI()
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        limits="2/minute",
        exempt_when=exempt_when,
    )
    app.add_exception_handler(RateLimitExceeded, problem_response)
    route = RateLimit(limiter, "1/minute", exempt_when=exempt_when)
    # Both kinds of function type-check where they are given.
    RateLimit(limiter, "1/minute", exempt_when=async_vip)
    RateLimitMiddleware(app, limiter, "1/minute", exempt_when=vip)

    @app.get("/data", dependencies=[Depends(route)])
    async def data() -> str:
        return "ok"

    with serve_asgi(app) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            exempt = http.get("/data", headers={"X-VIP": "1"})
            assert exempt.status_code == 200 and "RateLimit" not in exempt.headers
        assert http.get("/data").status_code == 200
        refused_by_route = http.get("/data")
        assert refused_by_route.status_code == 429
        assert refused_by_route.json()["detail"].startswith("The per-minute quota (1 per 60 s)")
        refused_by_app = http.get("/data")
        assert refused_by_app.status_code == 429
        assert refused_by_app.json()["detail"].startswith("The per-minute quota (2 per 60 s)")


def layered_app(url: str, headers: HeaderStyle = "ietf") -> FastAPI:
    """The README's example: the middleware for the whole app, a dependency for one route."""
    limiter = AsyncRateLimiter(url)
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, limiter=limiter, limits="100/minute", headers=headers)
    app.add_exception_handler(RateLimitExceeded, problem_response)
    route = RateLimit(limiter, "2/minute", key_func=api_key, headers=headers)

    @app.get("/api/data", dependencies=[Depends(route)])
    async def data() -> dict[str, str]:
        return {"message": "ok"}

    return app


def items(response: httpx.Response, field: str) -> list[str]:
    """The items of a list field, over all its field lines."""
    return [item.strip() for line in response.headers.get_list(field) for item in line.split(",")]


def test_middleware_and_dependency_name_their_policies_apart(
    server: servers.Server, frozen: FrozenClock
) -> None:
    with serve_asgi(layered_app(server.url())) as url, httpx.Client(base_url=url) as http:
        response = http.get("/api/data")
        assert response.status_code == 200
        assert items(response, "RateLimit-Policy") == [
            '"per-minute";q=2;w=60',
            '"app-per-minute";q=100;w=60',
        ]
        fields = [item.split(";t=")[0] for item in items(response, "RateLimit")]
        assert fields == ['"per-minute";r=1', '"app-per-minute";r=99']
        http.get("/api/data")
        refused = http.get("/api/data")  # by the route's limit, admitted by the app's
        assert refused.status_code == 429
        fields = [item.split(";t=")[0] for item in items(refused, "RateLimit")]
        assert fields == ['"per-minute";r=0', '"app-per-minute";r=97']
        names = [item.split(";")[0] for item in items(refused, "RateLimit-Policy")]
        assert len(names) == len(set(names)) == 2


def test_layers_with_legacy_fields_send_each_field_once(
    server: servers.Server, frozen: FrozenClock
) -> None:
    app = layered_app(server.url(), headers="legacy")
    with serve_asgi(app) as url, httpx.Client(base_url=url) as http:
        response = http.get("/api/data")
        assert response.headers.get_list("X-RateLimit-Limit") == ["2"]  # the route's
        assert response.headers.get_list("X-RateLimit-Remaining") == ["1"]


def test_paths_and_methods_clients_make_up_do_not_pile_up(
    server: servers.Server, frozen: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """per_path and per_method make a scope of whatever a client sends: the limits resolved
    for them are kept in a cache of a bounded size, and the counts stay right."""
    monkeypatch.setattr(redis_rl.cache, "DEFAULT_SIZE", 16)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/{path:path}", home, methods=["GET", "PURGE"])])
    limited = RateLimitMiddleware(
        app, AsyncRateLimiter(server.url()), "2/minute", per_path=True, per_method=True
    )
    with serve_asgi(limited) as url, httpx.Client(base_url=url) as http:
        assert http.get("/kept").status_code == 200
        for number in range(100):
            method = "GET" if number % 2 else f"M{number}"
            http.request(method, f"/made-up/{number}")
        assert len(limited.rule._cache) <= 16
        assert [http.get("/kept").status_code for _ in range(2)] == [200, 429]
        assert http.request("PURGE", "/kept").status_code == 200  # a count of its own
