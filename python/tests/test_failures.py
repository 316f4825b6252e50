"""Redis failing: on_error decides, Redis is skipped for the back-off period, each failure is
logged once per back-off. Real closed ports, a server that hangs, a server that comes back."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest
import redis

from redis_rl import (
    RL,
    AsyncRateLimiter,
    Limit,
    LimitRequest,
    RateLimiter,
    RateLimiterUnavailable,
    RateLimitResult,
)

import servers
from conftest import closed_port


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class HangingServer:
    """A Redis that hangs: the kernel completes every connection (the listening socket's
    backlog), and nothing ever answers. `new_connections()` counts those made since the
    last call, by taking them from the backlog."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def new_connections(self) -> int:
        count = 0
        while True:
            try:
                connection, _ = self.listener.accept()
            except BlockingIOError:
                return count
            self.accepted.append(connection)
            count += 1

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("backend", ["module", "auto"])
def test_on_error_with_a_closed_port(backend: str) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    allow = RateLimiter(url, backend=backend, on_error="allow").hit("u", "1/minute")  # type: ignore[arg-type]
    assert allow.allowed and allow.decision is None
    assert isinstance(allow.error, redis.ConnectionError) and allow.unavailable_for > 4
    assert [p.name for p in allow.policies] == ["per-minute"]
    deny = RateLimiter(url, backend=backend, on_error="deny").hit("u", "1/minute")  # type: ignore[arg-type]
    assert not deny.allowed and deny.decision is None
    with pytest.raises(RateLimiterUnavailable, match="Redis cannot decide") as raised:
        RateLimiter(url, backend=backend, on_error="raise").hit("u", "1/minute")  # type: ignore[arg-type]
    assert isinstance(raised.value.__cause__, redis.ConnectionError)


def test_on_error_per_limit() -> None:
    limiter = RateLimiter(f"redis://127.0.0.1:{closed_port()}/0", on_error="allow")
    assert limiter.hit("u", "1/minute").allowed
    assert not limiter.hit("u", "1/minute", on_error="deny").allowed  # while backing off too
    strict = Limit.parse("1/minute", "login", on_error="deny")
    lenient = Limit.parse("100/minute", "api")
    assert not limiter.hit_many([LimitRequest(strict, "u"), LimitRequest(lenient, "u")]).allowed
    with pytest.raises(RateLimiterUnavailable):
        limiter.hit("u", [Limit.parse("1/minute", on_error="raise"), lenient])
    assert limiter.hit("u", lenient).allowed


def test_a_hanging_redis_costs_one_timeout_per_backoff(
    hanging: HangingServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        f"redis://127.0.0.1:{hanging.port}/0", backend="module", timeout=0.2, clock=clock
    )
    first = limiter.hit("u", "10/second")
    assert first.allowed and isinstance(first.error, redis.TimeoutError)
    assert hanging.new_connections() == 1  # a timeout is not retried: the command may have run
    for _ in range(20):
        result = limiter.hit("u", "10/second")
        assert result.allowed and result.error is first.error
    assert hanging.new_connections() == 0  # Redis was not asked during the back-off
    assert len(warnings(caplog)) == 1
    assert "Redis failed (TimeoutError: Timeout reading from" in warnings(caplog)[0]
    clock.now += 5.0  # the back-off is over: the next request asks again, fails, logs again
    assert limiter.hit("u", "10/second").allowed
    assert hanging.new_connections() >= 1
    assert len(warnings(caplog)) == 2


def test_redis_coming_back(kind: servers.ServerKind, caplog: pytest.LogCaptureFixture) -> None:
    server = servers.start(kind)
    port = server.port
    clock = FakeClock()
    limiter = RateLimiter(server.url(), clock=clock, config={"default": "3/minute"})
    try:
        assert limiter.hit("u").remaining == 2
        server.stop()
        down = limiter.hit("u")
        assert down.allowed and down.decision is None
        server = servers.start(kind, port=port)
        assert limiter.hit("u").decision is None  # still backing off: Redis is not asked
        clock.now += 5.0
        back = limiter.hit("u")
        assert back.decision is not None and back.remaining == 2  # a new server, empty
        assert warnings(caplog)[-1] == "redis-rl: Redis answers again; limits are enforced"
        assert sum("Redis failed" in message for message in warnings(caplog)) == 1
    finally:
        server.stop()


def test_async_limiter_waits_on_redis_without_blocking_the_loop(hanging: HangingServer) -> None:
    async def scenario() -> None:
        limiter = AsyncRateLimiter(f"redis://127.0.0.1:{hanging.port}/0", timeout=0.3)
        done = False
        ticks = 0

        async def hit() -> RateLimitResult:
            nonlocal done
            result = await limiter.hit("u", "1/second")
            done = True
            return result

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0.01)

        result, _ = await asyncio.gather(hit(), ticker())
        # Had the limiter blocked the loop, the ticker would only start once it was done.
        assert ticks >= 1
        assert result.allowed and isinstance(result.error, redis.TimeoutError)
        denied = await limiter.hit("u", "1/second", on_error="deny")
        assert not denied.allowed
        await limiter.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_request_that_timed_out_counts_once(server: servers.Server, asynchronous: bool) -> None:
    """A server busy for longer than the client's timeout (DEBUG SLEEP) still runs the command
    it was sent once it is done: had the client sent it again after the timeout, the request
    would count twice."""
    busy = server.client().connection_pool.get_connection()

    def sleep_server() -> None:
        busy.send_command("DEBUG", "SLEEP", "1")  # not waiting for the reply: the server sleeps

    # The first request opens the limiter's connection, which the second finds open.
    if asynchronous:

        async def slow_hit() -> RateLimitResult:
            limiter = AsyncRateLimiter(server.url(), timeout=0.5, backend="module")
            assert (await limiter.hit("u", "5/minute")).remaining == 4
            sleep_server()
            result = await limiter.hit("u", "5/minute")
            await limiter.aclose()
            return result

        slow = asyncio.run(slow_hit())
    else:
        limiter = RateLimiter(server.url(), timeout=0.5, backend="module")
        assert limiter.hit("u", "5/minute").remaining == 4
        sleep_server()
        slow = limiter.hit("u", "5/minute")
    assert isinstance(slow.error, redis.TimeoutError)
    assert busy.read_response() == b"OK"
    busy.disconnect()
    # The first request and the slow one, once: RL.PEEK answers as RL.HIT would, with one
    # more unit taken (with the slow one counted twice, 1).
    peek = RL(server.client(socket_timeout=5)).peek("rl:{u}:default:5/60", 5, 60)
    assert peek.remaining == 2
