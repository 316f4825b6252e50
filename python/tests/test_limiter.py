"""RateLimiter and AsyncRateLimiter on servers with the module."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from redis_rl import (
    RL,
    AsyncRateLimiter,
    Limit,
    LimitRequest,
    RateLimiter,
    RateLimiterUnavailable,
    key_for,
    parse_rates,
)

import servers
from conftest import FrozenClock, rl_calls


@pytest.fixture
def limiter(client: redis.Redis) -> RateLimiter:
    client.config_resetstat()
    return RateLimiter(
        client,
        backend="module",
        config={
            "limits": {"search": "2/second;5/minute"},
            "plans": {"free": "2/hour", "pro": "4/hour"},
            "default_plan": "free",
        },
    )


def test_several_limits_are_one_mhit_per_request(
    limiter: RateLimiter, client: redis.Redis, frozen: FrozenClock
) -> None:
    for _ in range(3):
        assert limiter.hit("user", "10/second;100/minute;1000/day").allowed
    assert rl_calls(client) == {"rl.mhit": 3}
    assert sorted(client.keys("*")) == [
        b"rl:{user}:default:10/1",
        b"rl:{user}:default:100/60",
        b"rl:{user}:default:1000/86400",
    ]
    assert limiter.hit("user", "7/minute").allowed  # one limit: RL.HIT
    assert rl_calls(client) == {"rl.mhit": 3, "rl.hit": 1}


def test_all_or_nothing_and_the_deciding_limit(
    limiter: RateLimiter, client: redis.Redis, frozen: FrozenClock
) -> None:
    rates = "2/second;3/minute"
    first = limiter.hit("u", rates)
    assert first.allowed and [p.name for p in first.policies] == ["per-second", "per-minute"]
    assert (first.policy and first.policy.name, first.remaining) == ("per-second", 1)
    assert limiter.hit("u", rates).allowed
    denied = limiter.hit("u", rates)
    assert not denied.allowed and denied.policy is not None
    assert denied.policy.name == "per-second" and denied.rate == parse_rates("2/second")[0]
    minute_key = key_for("rl", "u", "default", parse_rates("3/minute")[0])
    assert RL(client).peek(minute_key, 3, 60).remaining == 0  # 2 used, this request: 1 more
    frozen.advance_ms(2000)
    assert limiter.hit("u", rates).allowed
    denied = limiter.hit("u", rates)
    assert denied.policy is not None and denied.policy.name == "per-minute"
    assert denied.retry_after is not None and denied.retry_after > 50


def test_names_plans_and_scopes(limiter: RateLimiter, client: redis.Redis) -> None:
    result = limiter.hit("ann", "search")
    assert [(p.name, p.scope) for p in result.policies] == [
        ("per-second", "search"),
        ("per-minute", "search"),
    ]
    assert [limiter.hit("bob", plan="pro").allowed for _ in range(5)] == [True] * 4 + [False]
    assert [limiter.hit("cy", plan="gold").allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("cy", "search", scope="other").allowed
    assert b"rl:{cy}:plan:2/3600" in client.keys("*")
    assert b"rl:{cy}:other:2/1" in client.keys("*")
    with pytest.raises(ValueError, match="'serch' is neither a rate"):
        limiter.hit("x", "serch")


def test_costs(limiter: RateLimiter, client: redis.Redis, frozen: FrozenClock) -> None:
    assert limiter.hit("u", "10/minute", cost=7).remaining == 3
    never = limiter.hit("u", "10/minute", cost=11)
    assert not never.allowed and never.retry_after is None
    free = limiter.hit("u", "10/minute", cost=0)
    assert free.allowed and free.decision is None
    assert rl_calls(client) == {"rl.hit": 2}
    # Limits of one request with different costs cannot share one RL.MHIT.
    result = limiter.hit_many(
        [
            LimitRequest(Limit.parse("5/minute", "uploads"), "u", 2),
            LimitRequest(Limit.parse("100/minute", "bytes"), "u", 60),
        ]
    )
    # Admitted: the deciding limit is the one with the fewest units left (3 against 40).
    assert result.allowed and result.policy is not None and result.policy.scope == "uploads"
    assert result.remaining == 3
    assert rl_calls(client) == {"rl.hit": 4}


def test_identities_are_escaped_into_the_hash_tag(
    limiter: RateLimiter, client: redis.Redis
) -> None:
    minute = parse_rates("1/minute")[0]
    assert key_for("rl", "{a}", "s", minute) == "rl:{%7Ba%7D}:s:1/60"
    assert key_for("rl", "50%", "s", minute) == "rl:{50%25}:s:1/60"
    assert key_for("rl", "", "s", minute) == "rl:{%}:s:1/60"
    for identity in ["{a}", "}", "", "%7Ba%7D"]:
        assert limiter.hit(identity, "1/minute;5/hour").allowed
        assert not limiter.hit(identity, "1/minute;5/hour").allowed
    keys = {k.decode() for k in cast(list[bytes], client.keys("*:1/60"))}
    assert keys == {
        "rl:{%7Ba%7D}:default:1/60",
        "rl:{%7D}:default:1/60",
        "rl:{%}:default:1/60",
        "rl:{%257Ba%257D}:default:1/60",
    }
    assert len({key_slot(k) for k in cast(list[bytes], client.keys("rl:{%7D}*"))}) == 1


def test_key_prefix(client: redis.Redis) -> None:
    RateLimiter(client, key_prefix="app:rl").hit("u", "1/minute")
    assert client.keys("*") == [b"app:rl:{u}:default:1/60"]
    with pytest.raises(ValueError, match="key_prefix"):
        RateLimiter(client, key_prefix="{x}")


def test_auto_backend_logs_once(client: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "redis_rl")
    limiter = RateLimiter(client)
    for _ in range(3):
        limiter.hit("u", "5/minute")
    assert [r.getMessage() for r in caplog.records if "module" in r.getMessage()] == [
        "redis-rl: the server has the rl module; deciding with its RL.* commands"
    ]


def test_url_client_has_a_short_timeout(server: servers.Server) -> None:
    limiter = RateLimiter(server.url())
    assert isinstance(limiter.client, redis.Redis)
    settings = limiter.client.connection_pool.connection_kwargs
    assert settings["socket_timeout"] == 0.5 and settings["socket_connect_timeout"] == 0.5
    assert limiter.hit("u", "1/second").allowed


def test_a_client_without_timeout_is_warned_about(
    server: servers.Server, caplog: pytest.LogCaptureFixture
) -> None:
    RateLimiter(server.client(socket_timeout=None))
    assert "waits without limit for each reply" in caplog.records[0].getMessage()
    caplog.clear()
    RateLimiter(server.client(socket_timeout=5, retry=Retry(NoBackoff(), 10)))
    assert "waits 5 s for each reply and retries 10 times" in caplog.records[0].getMessage()
    caplog.clear()
    RateLimiter(server.client(socket_timeout=0.5, retry=Retry(NoBackoff(), 1)))
    assert not caplog.records


def test_async_limiter(server: servers.Server, frozen: FrozenClock) -> None:
    async def scenario() -> None:
        limiter = AsyncRateLimiter(server.url(), config={"default": "2/minute;10/hour"})
        results = [await limiter.hit("u") for _ in range(3)]
        assert [r.allowed for r in results] == [True, True, False]
        assert results[2].policy is not None and results[2].policy.name == "per-minute"
        frozen.assert_ms(results[2].decision.retry_after_ms if results[2].decision else 0, 60_000)
        await limiter.aclose()

    server.client().config_resetstat()
    asyncio.run(scenario())
    assert rl_calls(server.client()) == {"rl.mhit": 3}


def test_the_module_backend_where_there_is_none(plain: servers.Server) -> None:
    limiter = RateLimiter(plain.url(), backend="module", on_error="raise")
    with pytest.raises(RateLimiterUnavailable, match="unknown command") as raised:
        limiter.hit("u", "1/minute")
    assert isinstance(raised.value.__cause__, redis.ResponseError)


def test_an_exact_limit_and_a_counter_in_one_request(
    limiter: RateLimiter, client: redis.Redis, frozen: FrozenClock
) -> None:
    """A LOG limit beside a sliding one: one RL.MHIT, the exact one deciding at its edge."""
    otp = Limit.parse("3/hour", "otp", algorithm="log")
    daily = Limit.parse("10/day", "otp-daily")
    results = []
    for _ in range(4):
        results.append(limiter.hit_many([LimitRequest(otp, "+1555"), LimitRequest(daily, "+1555")]))
        frozen.advance_ms(60_000)
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[3].policy is not None and results[3].policy.scope == "otp"
    # The first code was sent 3 minutes before: an hour after it, exactly.
    frozen.assert_ms(results[3].decision.retry_after_ms if results[3].decision else 0, 3_420_000)
    assert rl_calls(client) == {"rl.mhit": 4}
