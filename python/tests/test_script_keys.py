"""The fallback's keys, as the header of lua/rl.lua documents them: one string per limited key,
expiring when the state is back to full capacity; nothing written by a denied request or a
peek; another parameter reshapes the state even when denied."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redis_rl.scripts import Mode, ScriptLibrary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "support"))
import servers

NOW = 1_800_000_000_123_456  # microseconds
NOW_MS = NOW // 1000


@pytest.fixture(scope="module", params=servers.matrix(), ids=lambda kind: kind.id)
def plain(request: pytest.FixtureRequest) -> Iterator[servers.Server]:
    running = servers.start(request.param, module=False, clock=True)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=["script", "function"])
def library(request: pytest.FixtureRequest, plain: servers.Server) -> ScriptLibrary:
    client = plain.client()
    client.flushall()
    assert plain.clock is not None
    plain.clock.freeze(NOW)
    plain.clock.wait_seen(client, tolerance_us=0)
    mode: Mode = request.param
    return ScriptLibrary(client, mode)


def state(library: ScriptLibrary, key: str) -> tuple[str, int]:
    client: redis.Redis = library.client  # type: ignore[assignment]
    value = client.get(key)
    assert isinstance(value, bytes)
    return value.decode(), client.pexpiretime(key)


def test_sliding(library: ScriptLibrary) -> None:
    assert library.call("RL.HIT", ["k"], [5, 60]) == [1, 5, 4, 0, 108000]
    # The first hit lies window / limit = 12 s into its window; the key expires when that
    # window and the next have passed: 108 s from now, rounded up to the millisecond.
    assert state(library, "k") == (
        f"S1 60000000 {NOW} 12000000 1 0",
        -(-(NOW + 108_000_000) // 1000),
    )


def test_fixed(library: ScriptLibrary) -> None:
    assert library.call("RL.HIT", ["k"], [5, 60, "ALGO", "FIXED", "COST", 2]) == [
        1,
        5,
        3,
        0,
        60000,
    ]
    assert state(library, "k") == (f"F1 60000000 {NOW} 0 2", NOW_MS + 60001)


def test_bucket(library: ScriptLibrary) -> None:
    reply = library.call("RL.HIT", ["k"], [7, 60, "ALGO", "GCRA", "BURST", 10, "COST", 3])
    assert reply == [1, 10, 7, 0, 25715]
    # Three units drain in 3 * 60 / 7 s: 25714285 us and 5/7 of one.
    assert state(library, "k") == (f"B1 60000000 7 {NOW} 25714285 5", NOW_MS + 25715)


def test_denied_and_peek_write_nothing_but_a_reshape_does(library: ScriptLibrary) -> None:
    library.call("RL.HIT", ["k"], [2, 60, "COST", 2])
    before = state(library, "k")
    assert library.call("RL.HIT", ["k"], [2, 60])[0] == 0
    assert library.call("RL.PEEK", ["k"], [2, 60])[0] == 0
    assert state(library, "k") == before
    # Another window: the 2 units in use seed a fixed window, stored though denied.
    assert library.call("RL.HIT", ["k"], [2, "1h", "ALGO", "FIXED"]) == [0, 2, 0, 3600000, 3600000]
    assert state(library, "k") == (f"F1 3600000000 {NOW} 0 2", NOW_MS + 3600001)
