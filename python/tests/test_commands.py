"""RL and AsyncRL against real servers with the module: every command, both protocols."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import redis
import redis.asyncio

from redis_rl import RL, Acquired, AsyncRL, Decision, KeyLimit

import servers
from conftest import FrozenClock


def test_hit_until_denied_then_admitted_after_the_exact_wait(
    client: redis.Redis, frozen: FrozenClock
) -> None:
    rl = RL(client)
    decisions = [rl.hit("user:42", 10, 60) for _ in range(10)]
    assert [d.allowed for d in decisions] == [True] * 10
    assert [d.remaining for d in decisions] == list(range(9, -1, -1))
    denied = rl.hit("user:42", 10, 60)
    assert (denied.allowed, denied.remaining, denied.limit) == (False, 0, 10)
    frozen.assert_ms(denied.retry_after_ms, 60_000)
    assert rl.hit("user:42", 10, 60, cost=11).retry_after_ms is None  # can never fit
    frozen.advance_ms(59_998)
    frozen.assert_ms(rl.hit("user:42", 10, 60).retry_after_ms, 2)
    frozen.advance_ms(2 + frozen.slack_ms)
    assert rl.hit("user:42", 10, 60).allowed


@pytest.mark.parametrize("options", [{"protocol": 2}, {"protocol": 3}, {"decode_responses": True}])
def test_replies_parse_alike_in_resp2_and_resp3(
    server: servers.Server, frozen: FrozenClock, options: dict[str, object]
) -> None:
    rl = RL(server.client(**options))
    reference = RL(server.client())
    rl.hit("k", 5, 60, cost=2)
    # remaining: what is left after this (peeked) request of cost 1.
    frozen.assert_decision(rl.peek("k", 5, 60), Decision(True, 5, 2, 0, 108_000))
    frozen.assert_decision(reference.peek("k", 5, 60), Decision(True, 5, 2, 0, 108_000))
    frozen.assert_decision(
        rl.mhit([("{u}a", 2, 1), ("{u}b", 100, 3600)]), Decision(True, 2, 1, 0, 1_500, 1)
    )
    assert rl.throttle("cell", 15, 30, 60) == Decision(True, 16, 15, 0, 2000)


def test_peek_consumes_nothing(client: redis.Redis, frozen: FrozenClock) -> None:
    rl = RL(client)
    rl.hit("k", 3, 10)
    assert rl.peek("k", 3, 10).remaining == 1
    assert rl.peek("k", 3, 10).remaining == 1
    assert rl.hit("k", 3, 10).remaining == 1


def test_mhit_is_all_or_nothing_and_names_the_decider(
    client: redis.Redis, frozen: FrozenClock
) -> None:
    rl = RL(client)
    limits = [KeyLimit("{u}:sec", 2, 1), KeyLimit("{u}:hour", 3, 3600, algo="gcra", burst=3)]
    assert [rl.mhit(limits).allowed for _ in range(2)] == [True, True]
    denied = rl.mhit(limits)
    assert (denied.allowed, denied.position) == (False, 1)
    frozen.advance_ms(2000)
    assert rl.mhit(limits).allowed  # the third unit of the hour
    before = rl.peek("{u}:sec", 2, 1)
    denied = rl.mhit(limits)
    assert (denied.allowed, denied.position, denied.remaining) == (False, 2, 0)
    frozen.assert_decision(rl.peek("{u}:sec", 2, 1), before)  # the denied call consumed nothing
    assert before.allowed


def test_algorithms_windows_and_costs(client: redis.Redis, frozen: FrozenClock) -> None:
    rl = RL(client)
    assert rl.hit("a", 10, timedelta(seconds=1), algo="token", burst=5, cost=5).remaining == 0
    upper = rl.hit("a", 10, 1.0, algo="TOKEN", burst=5)  # type: ignore[arg-type]  # any case
    frozen.assert_ms(upper.retry_after_ms, 100)
    assert rl.hit("b", 1, 0.25, algo="gcra").allowed
    frozen.assert_ms(rl.hit("b", 1, "250ms", algo="gcra").retry_after_ms, 250)
    frozen.assert_ms(rl.hit("c", 2, "1h", algo="fixed").reset_after_ms, 3_600_000)


def test_log_is_exact(client: redis.Redis, frozen: FrozenClock) -> None:
    """ALGO LOG: three per hour, exactly; the fourth waits until the first is an hour old."""
    rl = RL(client)
    assert [rl.hit("otp", 3, "1h", algo="log").remaining for _ in range(2)] == [2, 1]
    frozen.advance_ms(60_000)
    assert rl.hit("otp", 3, "1h", algo="log").remaining == 0
    denied = rl.hit("otp", 3, "1h", algo="log")
    assert not denied.allowed
    frozen.assert_ms(denied.retry_after_ms, 3_540_000)
    frozen.advance_ms(3_540_000 + frozen.slack_ms)
    assert rl.peek("otp", 3, "1h", algo="log").allowed
    assert rl.mhit([("{p}:h", 3, "1h", "log"), ("{p}:d", 10, "1d", "log")]).position == 1


@pytest.mark.parametrize("options", [{"protocol": 2}, {"protocol": 3}, {"decode_responses": True}])
def test_leases(server: servers.Server, frozen: FrozenClock, options: dict[str, object]) -> None:
    rl = RL(server.client(**options))
    first = rl.acquire("jobs", 2, "15m")
    assert isinstance(first, Acquired) and first.allowed and first.remaining == 1
    assert isinstance(first.id, str) and len(first.id) == 16
    frozen.assert_ms(first.reset_after_ms, 900_000)
    assert first.reset_after == first.reset_after_ms / 1000
    named = rl.acquire("jobs", 2, timedelta(minutes=15), id="report-2291")
    assert (named.allowed, named.id, named.remaining) == (True, "report-2291", 0)
    denied = rl.acquire("jobs", 2, "15m")
    assert (denied.allowed, denied.id, denied.remaining) == (False, None, 0)
    frozen.assert_ms(denied.retry_after_ms, 900_000)
    never = rl.acquire("jobs", 2, 900, cost=3)
    assert not never.allowed and never.retry_after_ms is None and never.retry_after is None
    assert rl.release("jobs", first.id) is True
    assert rl.release("jobs", first.id) is False  # twice is harmless
    assert rl.renew("jobs", "report-2291", "1h") is True
    assert rl.renew("jobs", "never-held", "1h") is False
    frozen.assert_ms(server.client().pttl("jobs"), 3_600_000)
    if not options.get("decode_responses"):  # (which cannot read other bytes than UTF-8)
        # Any bytes make an id; one read back from a reply gives the same bytes again.
        odd = rl.acquire("odd", 1, 60, id=b"\xff\x00job")
        assert odd.id is not None and rl.renew("odd", odd.id, 60) and rl.release("odd", odd.id)


def test_bad_arguments(client: redis.Redis) -> None:
    rl = RL(client)
    for call, message in [
        (lambda: rl.hit("k", 0, 60), "limit must be an integer from 1"),
        (lambda: rl.hit("k", 1, 60, cost=0), "cost must be an integer from 1"),
        (lambda: rl.hit("k", 1, 0.0005), "window must be whole milliseconds"),
        (lambda: rl.hit("k", 1, timedelta(microseconds=1500)), "whole milliseconds"),
        (lambda: rl.hit("k", 1, 60, algo="cell"), "algo must be one of"),  # type: ignore[arg-type]
        (lambda: rl.hit("k", 1, 60, burst=-1), "burst must be an integer from 1"),
        (lambda: rl.mhit([]), "RL.MHIT takes 1 to 64 limits"),
        (lambda: rl.throttle("k", -1, 1, 1), "max_burst must be an integer from 0"),
        (lambda: rl.acquire("k", 0, 60), "limit must be an integer from 1 to 1000000"),
        (lambda: rl.acquire("k", 1, 0.0001), "lease must be whole milliseconds"),
        (lambda: rl.acquire("k", 1, 60, cost=0), "cost must be an integer from 1"),
        (lambda: rl.acquire("k", 1, 60, id=""), "lease id must be 1 to 64 bytes"),
        (lambda: rl.release("k", "x" * 65), "lease id must be 1 to 64 bytes"),
        (lambda: rl.renew("k", 5, 60), "a lease id must be text or bytes"),  # type: ignore[arg-type]
        (lambda: rl.renew("k", "a", -1), "lease must be an integer from 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    # What only the server checks comes back as its error, named.
    with pytest.raises(redis.ResponseError, match="window must be a duration"):
        rl.hit("k", 1, "60x")
    with pytest.raises(redis.ResponseError, match="BURST applies to ALGO TOKEN, LEAKY and GCRA"):
        rl.hit("k", 1, 60, burst=2)
    client.set("text", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        rl.hit("text", 1, 60)
    assert client.get("text") == b"x"


def test_async_commands(server: servers.Server, frozen: FrozenClock) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis(host="127.0.0.1", port=server.port, protocol=3)
        rl = AsyncRL(client)
        assert [(await rl.hit("k", 2, 60)).remaining for _ in range(2)] == [1, 0]
        frozen.assert_ms((await rl.hit("k", 2, 60)).retry_after_ms, 60_000)
        assert (await rl.peek("k", 2, 60)).remaining == 0
        mhit = await rl.mhit([("{a}1", 1, 1), ("{a}2", 5, 60)])
        assert (mhit.allowed, mhit.position) == (True, 1)
        assert (await rl.throttle("cell", 0, 1, 60)).limit == 1
        lease = await rl.acquire("jobs", 1, "1m", id="a")
        assert (lease.allowed, lease.id) == (True, "a")
        assert not (await rl.acquire("jobs", 1, "1m")).allowed
        assert await rl.renew("jobs", "a", "2m") and await rl.release("jobs", "a")
        assert not await rl.release("jobs", "a")
        await client.aclose()

    asyncio.run(scenario())


def test_auto_backend_finds_the_module(
    client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", "redis_rl")
    rl = RL(client, backend="auto")
    assert rl.backend == "module" and rl.backend == "module"
    assert rl.hit("k", 1, 1).allowed
    messages = [r.getMessage() for r in caplog.records if r.name == "redis_rl"]
    assert messages == ["redis-rl: the server has the rl module; deciding with its RL.* commands"]


def test_auto_backend_without_module_listing(client: redis.Redis) -> None:
    """Where MODULE LIST is refused (managed services, ACLs), the command itself is tried."""
    client.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-module")
    try:
        limited = redis.Redis(
            host="127.0.0.1",
            port=client.connection_pool.connection_kwargs["port"],
            username="app",
            password="pw",
        )
        with pytest.raises(redis.ResponseError):
            limited.execute_command("MODULE", "LIST")
        assert RL(limited, backend="auto").backend == "module"
    finally:
        client.execute_command("ACL", "DELUSER", "app")


def test_module_backend_on_a_server_without_it(plain_server: servers.Server) -> None:
    rl = RL(plain_server.client())
    with pytest.raises(redis.ResponseError, match="unknown command"):
        rl.hit("k", 1, 60)
    with pytest.raises(ValueError, match="backend must be one of"):
        RL(plain_server.client(), backend="lua")  # type: ignore[arg-type]
