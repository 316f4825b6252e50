"""The limiter on the Lua script fallback (redis_rl.scripts): where the server has no module,
"auto" picks the script, and everything above it (the limiter, Flask, ASGI) behaves alike.

These tests need the script library; without it they are skipped."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import redis
import redis.asyncio

from redis_rl import RL, AsyncRateLimiter, AsyncRL, KeyLimit, RateLimiter

import servers
from conftest import FrozenClock, command_calls, serve_asgi, serve_wsgi
from test_asgi_http import middleware_app
from test_flask_http import example_across_a_window, load_example, otp_across_an_hour, otp_app

pytest.importorskip("redis_rl.scripts")

MODES = ["script", "function"]
CALL = {"script": "evalsha", "function": "fcall"}


@pytest.mark.parametrize("mode", MODES)
def test_typed_commands_answer_as_the_module(
    server: servers.Server, frozen: FrozenClock, mode: str
) -> None:
    """The same calls at the same instants, through the module and through the script (the
    module's server runs Lua too), answer the same."""
    module = RL(server.client())
    script = RL(server.client(), backend=mode)  # type: ignore[arg-type]
    assert script.backend == mode

    def both(name: str, key: str, *args: object, **options: object) -> None:
        expected = getattr(module, name)(key, *args, **options)
        actual = getattr(script, name)("s:" + key, *args, **options)
        frozen.assert_decision(actual, expected)

    for _ in range(4):
        both("hit", "k", 3, 60)
    both("hit", "k", 3, 60, cost=4)
    both("peek", "k", 3, 60)
    both("hit", "g", 10, 1, algo="gcra", burst=4, cost=3)
    both("hit", "f", 2, "1500ms", algo="fixed")
    frozen.advance_ms(700)
    both("hit", "g", 10, 1, algo="gcra", burst=4, cost=3)
    limits = [KeyLimit("{u}:a", 2, 1), KeyLimit("{u}:b", 5, 60, algo="token", burst=3)]
    for _ in range(4):
        expected = module.mhit(limits)
        actual = script.mhit([limit._replace(key=f"s:{limit.key!s}") for limit in limits])
        frozen.assert_decision(actual, expected)
    for _ in range(4):
        both("hit", "otp", 3, "1h", algo="log")
        frozen.advance_ms(400)
    both("peek", "otp", 3, "1h", algo="log", cost=2)
    logs = [KeyLimit("{p}:a", 2, "1s", "log"), KeyLimit("{p}:b", 5, 60, "gcra")]
    for _ in range(3):
        expected = module.mhit(logs)
        actual = script.mhit([limit._replace(key=f"s:{limit.key!s}") for limit in logs])
        frozen.assert_decision(actual, expected)
    with pytest.raises(RuntimeError, match=r"CL\.THROTTLE is a command of the rl module"):
        script.throttle("k", 1, 1, 1)


@pytest.mark.parametrize("mode", MODES)
def test_typed_leases_answer_as_the_module(
    server: servers.Server, frozen: FrozenClock, mode: str
) -> None:
    module = RL(server.client())
    script = RL(server.client(protocol=3), backend=mode)  # type: ignore[arg-type]
    for args, options in [
        ((2, "15m"), {"id": "a"}),
        ((2, "15m"), {"id": "b", "cost": 1}),
        ((2, "15m"), {"id": "c"}),
        ((2, "15m"), {"cost": 3}),
    ]:
        expected = module.acquire("jobs", *args, **options)  # type: ignore[arg-type]
        actual = script.acquire("s:jobs", *args, **options)  # type: ignore[arg-type]
        assert (actual.allowed, actual.limit, actual.remaining, actual.id) == (
            expected.allowed,
            expected.limit,
            expected.remaining,
            expected.id,
        )
        if expected.retry_after_ms is None:
            assert actual.retry_after_ms is None
        else:
            frozen.assert_ms(actual.retry_after_ms, expected.retry_after_ms)
        frozen.assert_ms(actual.reset_after_ms, expected.reset_after_ms)
    made = script.acquire("s:other", 1, "1m")
    assert made.id is not None and len(made.id) == 16 and made.remaining == 0
    assert script.release("s:jobs", "a") is module.release("jobs", "a") is True
    assert script.release("s:jobs", "a") is module.release("jobs", "a") is False
    assert script.renew("s:jobs", "b", "1h") is module.renew("jobs", "b", "1h") is True
    assert script.renew("s:jobs", "zz", "1h") is module.renew("jobs", "zz", "1h") is False
    client = server.client()
    assert client.pttl("s:jobs") == client.pttl("jobs")


@pytest.mark.parametrize("mode", ["auto", *MODES])
def test_the_limiter_without_the_module(
    plain: servers.Server, frozen_plain: FrozenClock, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "redis_rl")
    client = plain.client()
    limiter = RateLimiter(plain.url(), backend=mode)  # type: ignore[arg-type]
    assert limiter.hit("warm-up", "1/second").allowed  # loads the library
    client.config_resetstat()
    results = [limiter.hit("u", "2/second;5/minute") for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert results[2].policy is not None and results[2].policy.name == "per-second"
    frozen_plain.assert_ms(results[2].decision.retry_after_ms if results[2].decision else 0, 1000)
    calls = command_calls(client)
    assert calls.get(CALL["script" if mode == "auto" else mode]) == 3  # one call per request
    assert not [name for name in calls if name.startswith("rl.")]
    assert sorted(client.keys("rl:lua:{u}:*")) == [
        b"rl:lua:{u}:default:2/1",
        b"rl:lua:{u}:default:5/60",
    ]
    if mode == "auto":
        assert (
            "redis-rl: the server has no rl module; deciding with the Lua script fallback (EVALSHA)"
        ) in [r.getMessage() for r in caplog.records]


def test_async_without_the_module(plain: servers.Server, frozen_plain: FrozenClock) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis(host="127.0.0.1", port=plain.port)
        rl = AsyncRL(client, backend="auto")
        assert await rl.resolve_backend() == "script"
        assert [(await rl.hit("k", 2, 60)).allowed for _ in range(3)] == [True, True, False]
        limiter = AsyncRateLimiter(client, backend="function")
        assert [(await limiter.hit("u", "1/minute;9/hour")).allowed for _ in range(2)] == [
            True,
            False,
        ]
        await client.aclose()

    asyncio.run(scenario())


def test_the_flask_example_without_the_module(
    plain: servers.Server, frozen_plain: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_wsgi(load_example(plain.url(), monkeypatch).app) as url:
        example_across_a_window(url, frozen_plain)
    assert plain.client().keys("rl:{*") == []  # the script's keys only


def test_an_exact_limit_over_http_without_the_module(
    plain: servers.Server, frozen_plain: FrozenClock
) -> None:
    with serve_wsgi(otp_app(plain.url())) as url:
        otp_across_an_hour(url, frozen_plain)
    assert plain.client().type("rl:lua:{+15550100}:otp:3/3600") == b"list"


def test_the_asgi_middleware_without_the_module(
    plain: servers.Server, frozen_plain: FrozenClock
) -> None:
    with serve_asgi(middleware_app(plain.url())) as url, httpx.Client(base_url=url) as http:
        statuses = [http.get("/api/data", headers={"X-API-Key": "k"}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        frozen_plain.advance_ms(250)
        denied = http.get("/api/data", headers={"X-API-Key": "k"})
        assert denied.headers["Retry-After"] == "60"
        assert denied.headers["RateLimit"] == '"per-minute";r=0;t=60'
