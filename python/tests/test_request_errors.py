"""Errors about the request itself are not outages: a limit the server refuses (an ALGO LOG
limit above rl.log-max-entries, a limit above 2^53 on the script fallback) or a key of another
type is raised to the caller as RateLimitRequestError, without the back-off, and every other
limit goes on being enforced. Real servers, and real HTTP for Flask."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import redis
from flask import Flask
from redis._parsers.base import BaseParser

from redis_rl import (
    Algorithm,
    AsyncRateLimiter,
    Limit,
    LimitRequest,
    RateLimiter,
    RateLimitRequestError,
)
from redis_rl.asgi import RateLimit
from redis_rl.failure import is_outage
from redis_rl.flask import FlaskRateLimiter

import servers
from conftest import FrozenClock, serve_wsgi

TOO_LONG_A_LOG = Limit.parse("20000/day", "feed", algorithm="log")
LOGIN = Limit.parse("1/minute", "login")


@pytest.fixture(params=["module", "script"])
def url(request: pytest.FixtureRequest, kind: servers.ServerKind) -> Iterator[str]:
    """A server with the module (the limiter on its commands), or without (on the script)."""
    fixture = "server" if request.param == "module" else "plain"
    server: servers.Server = request.getfixturevalue(fixture)
    yield server.url()


def test_a_refused_limit_is_raised_and_others_are_still_enforced(url: str) -> None:
    limiter = RateLimiter(url, on_error="deny")
    assert limiter.hit("u", LOGIN).allowed
    for _ in range(3):  # any client may send it again and again
        with pytest.raises(RateLimitRequestError, match="rl\\.log-max-entries") as refused:
            limiter.hit("u", TOO_LONG_A_LOG)
        assert "20000 per day, algorithm log" in str(refused.value)
        assert refused.value.command == "RL.HIT" and refused.value.keys[0].endswith(
            ":feed:20000/86400"
        )
        assert isinstance(refused.value.__cause__, redis.ResponseError)
    assert not limiter.backoff.skipping() and limiter.backoff.failures == 0
    again = limiter.hit("u", LOGIN)
    assert again.decision is not None and not again.allowed  # refused by its limit, not on_error


def test_one_refused_limit_among_several(url: str) -> None:
    limiter = RateLimiter(url, on_error="allow")
    with pytest.raises(RateLimitRequestError, match="RL\\.MHIT") as refused:
        limiter.hit_many([LimitRequest(LOGIN, "u"), LimitRequest(TOO_LONG_A_LOG, "u")])
    assert len(refused.value.keys) == 2
    assert limiter.hit("u", LOGIN).remaining == 0  # nothing was counted by the refused call


def test_a_key_of_another_type(url: str) -> None:
    limiter = RateLimiter(url, on_error="deny")
    wrong = f"{limiter.prefix(limiter.rl.backend)}:{{v}}:login:1/60"
    limiter.client.set(wrong, "a string")
    with pytest.raises(RateLimitRequestError, match="WRONGTYPE") as refused:
        limiter.hit("v", LOGIN)
    assert refused.value.keys == (wrong,)
    assert limiter.hit("x", LOGIN).decision is not None


def test_above_2_53_on_the_script_fallback(plain: servers.Server) -> None:
    limiter = RateLimiter(plain.url(), backend="script", on_error="deny")
    with pytest.raises(RateLimitRequestError, match="to 9007199254740991 with the script fallback"):
        limiter.hit("u", f"{2**53}/minute")
    assert limiter.hit("u", "5/minute").remaining == 4


def test_async_limiter(url: str) -> None:
    async def scenario() -> None:
        limiter = AsyncRateLimiter(url, on_error="deny")
        with pytest.raises(RateLimitRequestError, match="rl\\.log-max-entries"):
            await limiter.hit("u", TOO_LONG_A_LOG)
        assert not limiter.backoff.skipping()
        assert (await limiter.hit("u", LOGIN)).decision is not None
        await limiter.aclose()

    asyncio.run(scenario())


def test_a_lease_on_a_key_of_another_type(url: str) -> None:
    limiter = RateLimiter(url, on_error="deny")
    limiter.client.set(limiter.lease_key("job"), "a string")
    with pytest.raises(RateLimitRequestError, match="WRONGTYPE") as refused:
        limiter.lease("job", limit=1, lease="1m").acquire()
    assert refused.value.command == "RL.ACQUIRE"
    assert not limiter.backoff.skipping()
    with limiter.lease("other", limit=1, lease="1m") as lease:
        assert lease.held


def test_flask_one_bad_route_does_not_switch_off_the_others(
    server: servers.Server, frozen: FrozenClock
) -> None:
    app = Flask(__name__)
    limiter = FlaskRateLimiter(app, redis_url=server.url(), on_error="allow")

    @app.get("/login")
    @limiter.limit("1/minute")
    def login() -> str:
        return "ok"

    @app.get("/feed")
    @limiter.limit("20000/day", algorithm="log")
    def feed() -> str:
        return "ok"

    with serve_wsgi(app) as base, httpx.Client(base_url=base) as http:
        assert http.get("/login").status_code == 200
        assert http.get("/feed").status_code == 500  # the app's error, not an outage
        assert [http.get("/login").status_code for _ in range(3)] == [429, 429, 429]


def test_burst_with_an_algorithm_without_one_fails_when_declared(server: servers.Server) -> None:
    algorithms: list[Algorithm] = ["sliding", "fixed", "log"]
    for algorithm in algorithms:
        with pytest.raises(ValueError, match="burst applies to the token, leaky and gcra"):
            Limit.parse("10/minute", algorithm=algorithm, burst=20)
        with pytest.raises(ValueError, match="burst applies to the token, leaky and gcra"):
            FlaskRateLimiter().limit("10/minute", algorithm=algorithm, burst=20)
        with pytest.raises(ValueError, match="burst applies to the token, leaky and gcra"):
            RateLimit(AsyncRateLimiter(server.url()), "10/minute", algorithm=algorithm, burst=20)
    assert Limit.parse("10/minute", algorithm="gcra", burst=20).burst == 20


@pytest.mark.parametrize(
    ("reply", "outage"),
    [
        ("LOADING Redis is loading the dataset in memory", True),
        ("BUSY Redis is busy running a script. You can only call SCRIPT KILL", True),
        ("READONLY You can't write against a read only replica.", True),
        ("OOM command not allowed when used memory > 'maxmemory'.", True),
        ("MISCONF Redis is configured to save RDB snapshots, but it's unable to persist", True),
        ("NOREPLICAS Not enough good replicas to write.", True),
        ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", True),
        ("CLUSTERDOWN The cluster is down", True),
        ("TRYAGAIN Multiple keys request during rehashing of slot", True),
        ("ERR max number of clients reached", True),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
        ("ERR ALGO LOG needs 20000 entries for this limit", False),
        ("NOPERM User app has no permissions to run the 'rl.hit' command", False),
        ("ERR unknown command 'RL.HIT', with args beginning with: 'k'", True),  # no module
        ("ERR limit must be an integer from 1 to 9223372036854775807", False),
    ],
)
def test_which_replies_are_outages(reply: str, outage: bool) -> None:
    # As redis-py reads the server's error replies.
    assert is_outage(BaseParser.parse_error(reply)) is outage


def test_connection_errors_and_timeouts_are_outages() -> None:
    assert is_outage(redis.ConnectionError("Connection refused"))
    assert is_outage(redis.TimeoutError("Timeout reading from socket"))
    assert not is_outage(redis.DataError("Invalid input of type: 'dict'"))
