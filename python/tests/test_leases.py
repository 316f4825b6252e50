"""Concurrency leases from Python: the context managers of RateLimiter and AsyncRateLimiter on
the module and on both forms of the script fallback (a server without the module), with a
frozen server clock: taken on enter, given back on exit (also when the body raises), renewed,
lost, denied at once or after waiting, and what a Redis failure decides."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import cast

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redis_rl import (
    AsyncRateLimiter,
    LeaseDenied,
    LeaseLost,
    RateLimiter,
    RateLimiterUnavailable,
    RateLimitRequestError,
    lease_key_for,
)

import servers
from conftest import FrozenClock, closed_port, command_calls

BACKENDS = ["module", "script", "function"]
CALL = {"module": "rl.acquire", "script": "evalsha", "function": "fcall"}
PREFIX = {"module": "rl", "script": "rl:lua", "function": "rl:lua"}


class Setup:
    """A server (with the module, or without it for the fallback), its frozen clock, and the
    backend the limiters use."""

    def __init__(self, server: servers.Server, frozen: FrozenClock, backend: str) -> None:
        self.server = server
        self.frozen = frozen
        self.backend = backend
        self.client = server.client()

    def limiter(self, **options: object) -> RateLimiter:
        return RateLimiter(self.server.url(), backend=self.backend, **options)  # type: ignore[arg-type]

    def async_limiter(self, **options: object) -> AsyncRateLimiter:
        return AsyncRateLimiter(self.server.url(), backend=self.backend, **options)  # type: ignore[arg-type]

    def key(self, identity: str, scope: str = "default") -> str:
        return lease_key_for(PREFIX[self.backend], identity, scope)

    def held(self, identity: str) -> int:
        """Leases held under the identity's key, as the server stores them."""
        key = self.key(identity)
        if self.backend == "module":
            # The module's leases are a value of its own type: ask RL.ACQUIRE's remaining with a
            # cost that never fits (it changes nothing).
            reply = self.client.execute_command("RL.ACQUIRE", key, 10_000, 1, "COST", 10_001)
            return 10_000 - int(reply[2])
        return max(0, cast(int, self.client.hlen(key)) - 1)


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, kind: servers.ServerKind) -> Iterator[Setup]:
    # `kind` (the server of the matrix) first, so that the fixtures below find it.
    if request.param == "module":
        server = request.getfixturevalue("server")
        frozen = request.getfixturevalue("frozen")
    else:
        server = request.getfixturevalue("plain")
        frozen = request.getfixturevalue("frozen_plain")
    yield Setup(server, frozen, request.param)


def test_taken_on_enter_and_given_back_on_exit(setup: Setup) -> None:
    limiter = setup.limiter()
    with limiter.lease("tenant:7", limit=2, lease="30s") as first:
        assert first.held and first.id is not None and len(first.id) == 16
        assert (
            first.key
            == setup.key("tenant:7")
            == f"{PREFIX[setup.backend]}:{{tenant:7}}:default:leases"
        )
        assert first.acquired is not None and first.acquired.remaining == 1
        setup.frozen.assert_ms(first.acquired.reset_after_ms, 30_000)
        with limiter.lease("tenant:7", limit=2, lease="30s", id="report-1") as second:
            assert second.id == "report-1" and setup.held("tenant:7") == 2
            with pytest.raises(LeaseDenied) as denied:
                limiter.lease("tenant:7", limit=2, lease="30s").acquire()
            # Until the first lease expires, if nobody releases one.
            assert denied.value.acquired is not None and not denied.value.acquired.allowed
            setup.frozen.assert_ms(denied.value.acquired.retry_after_ms, 30_000)
            assert (
                denied.value.retry_after is not None and 29.9 < denied.value.retry_after <= 30.001
            )
        assert setup.held("tenant:7") == 1 and not second.held
    assert setup.held("tenant:7") == 0 and setup.client.exists(setup.key("tenant:7")) == 0


def test_given_back_when_the_body_raises(setup: Setup) -> None:
    limiter = setup.limiter()
    with pytest.raises(ZeroDivisionError), limiter.lease("job", limit=1, lease="1h") as lease:
        assert setup.held("job") == 1
        _ = 1 / 0
    assert not lease.held and setup.held("job") == 0
    with limiter.lease("job", limit=1, lease="1h") as again:  # the slot is free at once
        assert again.held


def test_a_cost_above_the_limit_never_fits(setup: Setup) -> None:
    limiter = setup.limiter()
    limiter.lease("warm-up", limit=1, lease="1s").acquire().release()  # loads the library
    lease = limiter.lease("job", limit=2, lease="1m", cost=3, wait=60)
    setup.client.config_resetstat()
    with pytest.raises(LeaseDenied, match="exceeds the limit of 2") as denied:
        lease.acquire()
    assert denied.value.retry_after is None
    # Not waited for: asked once.
    assert command_calls(setup.client).get(CALL[setup.backend]) == 1


def test_renew_extends_the_lease_and_says_when_it_was_lost(setup: Setup) -> None:
    limiter = setup.limiter()
    with limiter.lease("job", limit=1, lease="10s") as lease:
        setup.frozen.advance_ms(8_000)
        lease.renew()  # 10 s from now again
        setup.frozen.advance_ms(8_000)
        assert setup.held("job") == 1  # 16 s after it was taken
        lease.renew("2s")
        setup.frozen.advance_ms(2_500)  # past its expiry: another may take it
        with limiter.lease("job", limit=1, lease="10s") as other:
            assert other.held
            with pytest.raises(LeaseLost, match="no longer held"):
                lease.renew()
            assert not lease.held
        assert setup.held("job") == 0
    assert setup.held("job") == 0  # the lost lease gives back nothing


def test_the_same_id_is_the_same_holder(setup: Setup) -> None:
    limiter = setup.limiter()
    with limiter.lease("job", limit=2, lease="1m", id="worker-1") as first:
        # A retry whose answer was lost takes the same slot again, not a second one.
        again = limiter.lease("job", limit=2, lease="1m", id="worker-1").acquire()
        assert again.held and setup.held("job") == 1
        assert first.id == again.id == "worker-1"
    assert setup.held("job") == 0


def test_waits_for_a_release(setup: Setup) -> None:
    limiter = setup.limiter()
    holder = limiter.lease("job", limit=1, lease="1h").acquire()
    threading.Timer(0.05, holder.release).start()
    with limiter.lease("job", limit=1, lease="1h", wait=10, poll=0.01) as waited:
        assert waited.held and not holder.held
    with (
        pytest.raises(LeaseDenied) as denied,
        limiter.lease("job", limit=1, lease="1h"),
        limiter.lease("job", limit=1, lease="1h", wait=0.05, poll=0.01),
    ):
        pass
    assert denied.value.retry_after is not None and denied.value.retry_after > 3500


def test_scopes_and_identities_count_apart(setup: Setup) -> None:
    limiter = setup.limiter(key_prefix="app")
    with (
        limiter.lease("{a}", limit=1, lease="1m") as a,
        limiter.lease("{a}", limit=1, lease="1m", scope="exports") as b,
        limiter.lease("b", limit=1, lease="1m") as c,
    ):
        assert a.held and b.held and c.held
        prefix = "app" if setup.backend == "module" else "app:lua"
        assert {a.key, b.key, c.key} == {
            f"{prefix}:{{%7Ba%7D}}:default:leases",
            f"{prefix}:{{%7Ba%7D}}:exports:leases",
            f"{prefix}:{{b}}:default:leases",
        }


def test_async_leases(setup: Setup) -> None:
    async def scenario() -> None:
        limiter = setup.async_limiter()
        async with limiter.lease("job", limit=2, lease="30s") as first:
            assert first.held and first.key == setup.key("job")
            async with limiter.lease("job", limit=2, lease="30s", id="b") as second:
                assert second.id == "b"
                with pytest.raises(LeaseDenied):
                    await limiter.lease("job", limit=2, lease="30s").acquire()
                # Waiting does not block the loop: the release below runs meanwhile.
                waiting = asyncio.ensure_future(
                    limiter.lease("job", limit=2, lease="30s", wait=10, poll=0.01).acquire()
                )
                await asyncio.sleep(0.03)
                assert not waiting.done()
                await second.release()
                third = await waiting
                assert third.held
                await third.release()
            await first.renew("1m")
            setup.frozen.advance_ms(45_000)
            assert setup.held("job") == 1  # renewed past the 30 s
        with pytest.raises(RuntimeError, match="needs a held lease"):
            await first.renew()  # given back already
        assert setup.held("job") == 0
        failing = limiter.lease("job", limit=1, lease="1s")
        async with failing:
            setup.frozen.advance_ms(1_500)
            with pytest.raises(LeaseLost):
                await failing.renew()
        await limiter.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("asynchronous", [False, True])
def test_redis_down_is_decided_by_on_error(
    kind: servers.ServerKind, asynchronous: bool, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    if asynchronous:

        async def scenario() -> None:
            limiter = AsyncRateLimiter(url, backend="module")
            async with limiter.lease("job", limit=1, lease="1m") as lease:
                assert not lease.held and isinstance(lease.error, redis.ConnectionError)
                await lease.renew()  # nothing to renew: the body runs without a lease
            with pytest.raises(LeaseDenied, match="Redis cannot decide"):
                await limiter.lease("job", limit=1, lease="1m", on_error="deny").acquire()
            with pytest.raises(RateLimiterUnavailable):
                await limiter.lease("job", limit=1, lease="1m", on_error="raise").acquire()

        asyncio.run(scenario())
        return
    limiter = RateLimiter(url, backend="module")
    with limiter.lease("job", limit=1, lease="1m") as lease:
        assert not lease.held and isinstance(lease.error, redis.ConnectionError)
        lease.renew()
    with pytest.raises(LeaseDenied, match="Redis cannot decide") as denied:
        limiter.lease("job", limit=1, lease="1m", on_error="deny").acquire()
    assert isinstance(denied.value.error, redis.ConnectionError)
    with pytest.raises(RateLimiterUnavailable) as raised:
        limiter.lease("job", limit=1, lease="1m", on_error="raise").acquire()
    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    # One failure, then the back-off: Redis was asked once.
    assert [r for r in caplog.records if "Redis failed" in r.getMessage()]


def test_a_release_that_fails_is_logged_not_raised(
    server: servers.Server, frozen: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RateLimiter(server.url(), backend="module")
    with limiter.lease("job", limit=1, lease="1m") as lease:
        held_id = lease.id
        # Redis becomes unreachable before the block ends.
        limiter.rl.client = redis.Redis(port=closed_port(), retry=Retry(NoBackoff(), 0))
    assert not lease.held
    assert [r.getMessage() for r in caplog.records if "could not release" in r.getMessage()]
    # The lease is still on the server, and expires by itself.
    reply = server.client().execute_command("RL.ACQUIRE", lease.key, 1, "1m", "ID", held_id)
    assert reply[0] == 1 and reply[2] == 0


def test_bad_arguments_fail_at_once(server: servers.Server) -> None:
    limiter = RateLimiter(server.url(), backend="module")
    for options, message in [
        ({"limit": 0, "lease": "1s"}, "limit must be an integer from 1"),
        ({"limit": 1, "lease": 0.0005}, "lease must be whole milliseconds"),
        ({"limit": 1, "lease": "1s", "cost": 0}, "cost must be an integer from 1"),
        ({"limit": 1, "lease": "1s", "id": ""}, "lease id must be 1 to 64 bytes"),
        ({"limit": 1, "lease": "1s", "id": "x" * 65}, "lease id must be 1 to 64 bytes"),
        ({"limit": 1, "lease": "1s", "wait": -1}, "wait must be"),
        ({"limit": 1, "lease": "1s", "poll": 0}, "poll must be"),
        ({"limit": 1, "lease": "1s", "scope": ""}, "scope must be"),
        ({"limit": 1, "lease": "1s", "on_error": "maybe"}, "on_error must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            limiter.lease("job", **options)  # type: ignore[arg-type]
    # What only the server checks comes back as its error, raised whatever on_error says:
    # Redis answered, so it is not an outage and starts no back-off.
    with pytest.raises(RateLimitRequestError, match="RL\\.ACQUIRE") as raised:
        limiter.lease("job", limit=1, lease="1x", on_error="allow").acquire()
    assert isinstance(raised.value.__cause__, redis.ResponseError)
    assert str(raised.value.__cause__).startswith("lease must be a duration")
    assert not limiter.backoff.skipping()


def test_an_acquire_that_timed_out_is_asked_again_by_the_same_holder(setup: Setup) -> None:
    """The lease's id is the package's own, sent with every RL.ACQUIRE: one that timed out
    (the server busy for longer than the client waits) and ran later is the same holder's, so
    asking again replaces it instead of finding the limit taken, and it can be released."""
    limiter = setup.limiter(timeout=0.5, backoff=0)
    lease = limiter.lease("job", limit=1, lease="1m", on_error="allow")
    assert lease.id is not None and len(lease.id) == 16 and not lease.held  # known at once
    limiter.hit("warm", "1/second")  # the limiter's connection is open
    busy = setup.server.client().connection_pool.get_connection()
    busy.send_command("DEBUG", "SLEEP", "1")  # not waiting for the reply: the server sleeps
    lease.acquire()
    assert not lease.held and isinstance(lease.error, redis.TimeoutError)
    assert busy.read_response() == b"OK"
    busy.disconnect()
    assert setup.held("job") == 1  # the RL.ACQUIRE ran when the server woke up: it holds
    lease.acquire()
    assert lease.held and setup.held("job") == 1
    assert lease.release() and setup.held("job") == 0


def test_denied_names_the_leases_when_redis_failed_before_the_key_was_known() -> None:
    limiter = RateLimiter(f"redis://127.0.0.1:{closed_port()}/0", on_error="deny")
    with pytest.raises(
        LeaseDenied,
        match=re.escape("no lease on the leases of 'tenant:7' (scope 'jobs'): Redis cannot"),
    ):
        limiter.lease("tenant:7", limit=1, lease="1m", scope="jobs").acquire()
