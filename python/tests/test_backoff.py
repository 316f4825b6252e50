"""The back-off after a Redis failure, on a clock the test moves."""

from __future__ import annotations

import logging

import pytest

from redis_rl.failure import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "redis_rl"]


def test_skips_for_the_period_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    backoff = Backoff(5.0, clock=clock)
    assert not backoff.skipping()
    with caplog.at_level(logging.WARNING, "redis_rl"):
        backoff.failed(ConnectionError("Connection refused"))
        for _ in range(3):  # concurrent requests failing within the same back-off
            backoff.failed(ConnectionError("Connection refused"))
        assert warnings(caplog) == [
            "redis-rl: Redis failed (ConnectionError: Connection refused); not asking it for "
            "5.0 s, limits decide by their on_error meanwhile"
        ]
        clock.now += 4.999
        assert backoff.skipping() and backoff.remaining() == pytest.approx(0.001)
        clock.now += 0.001
        assert not backoff.skipping() and backoff.remaining() == 0
        backoff.failed(TimeoutError("Timeout reading from socket"))  # the retry fails again
        assert len(warnings(caplog)) == 2 and "TimeoutError" in warnings(caplog)[1]
        assert backoff.skipping() and backoff.failures == 2
        clock.now += 5
        backoff.succeeded()
        backoff.succeeded()
        assert warnings(caplog)[2:] == ["redis-rl: Redis answers again; limits are enforced"]
        assert backoff.last_error is None and not backoff.skipping()


def test_zero_period_never_skips() -> None:
    backoff = Backoff(0, clock=FakeClock())
    backoff.failed(ConnectionError("x"))
    assert not backoff.skipping()


def test_bad_period() -> None:
    with pytest.raises(ValueError, match="backoff must be a number of seconds"):
        Backoff(-1)
