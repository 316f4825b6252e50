"""The fallback's keys, as the header of lua/rl.lua documents them: one string per limited key
(a list for ALGO LOG, a hash of leases for RL.ACQUIRE), expiring when it carries nothing more;
nothing written by a denied request or a peek; another parameter reshapes the state even when
denied; a full server lets leases be released and renewed only."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

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


def at(plain: servers.Server, library: ScriptLibrary, instant_us: int) -> None:
    assert plain.clock is not None
    plain.clock.freeze(instant_us)
    plain.clock.wait_seen(library.client, tolerance_us=0)


def log(library: ScriptLibrary, key: str) -> tuple[list[str], int]:
    client: redis.Redis = library.client  # type: ignore[assignment]
    values = cast(list[bytes], client.lrange(key, 0, -1))
    return [v.decode() for v in values], client.pexpiretime(key)


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


def test_log(plain: servers.Server, library: ScriptLibrary) -> None:
    otp: list[Any] = [3, "1h", "ALGO", "LOG"]
    assert library.call("RL.HIT", ["otp"], otp) == [1, 3, 2, 0, 3600000]
    assert library.call("RL.HIT", ["otp"], otp) == [1, 3, 1, 0, 3600000]
    # The header, then one entry per millisecond: its distance from the one before, and its
    # units when not 1. The key expires when the newest entry is a window old.
    assert log(library, "otp") == (
        [f"L1 3600000 {NOW_MS} {NOW_MS} {NOW_MS} 2", "0:2"],
        NOW_MS + 3_600_000,
    )
    at(plain, library, NOW + 2_000)
    assert library.call("RL.HIT", ["otp"], otp) == [1, 3, 0, 0, 3600000]
    assert library.call("RL.HIT", ["otp"], otp) == [0, 3, 0, 3599998, 3600000]
    assert library.call("RL.PEEK", ["otp"], otp)[0] == 0
    after = [f"L1 3600000 {NOW_MS + 2} {NOW_MS} {NOW_MS + 2} 3", "0:2", "2"]
    assert log(library, "otp") == (after, NOW_MS + 3_600_002)  # denied, peeked: unchanged
    # An hour after the first two, they leave the front: the header takes the place of the
    # last of them.
    at(plain, library, NOW + 3_600_000_000)
    assert library.call("RL.HIT", ["otp"], otp) == [1, 3, 1, 0, 3600000]
    assert log(library, "otp") == (
        [f"L1 3600000 {NOW_MS + 3_600_000} {NOW_MS + 2} {NOW_MS + 3_600_000} 2", "2", "3599998"],
        NOW_MS + 7_200_000,
    )


def test_leases(plain: servers.Server, library: ScriptLibrary) -> None:
    client: redis.Redis = library.client  # type: ignore[assignment]
    assert library.call("RL.ACQUIRE", ["jobs"], [2, "15m", "ID", "report"]) == [
        *[1, 2, 1, 0, 900000],
        b"report",
    ]
    reply = library.call("RL.ACQUIRE", ["jobs"], [2, "1m"])
    made = reply[5]
    assert reply[:5] == [1, 2, 0, 0, 900000] and re.fullmatch(rb"[0-9a-f]{16}", made)
    assert client.hgetall("jobs") == {
        b"": f"A1 {NOW}".encode(),
        b"report": f"{NOW + 900_000_000} 1".encode(),
        made: f"{NOW + 60_000_000} 1".encode(),
    }
    # Expires with its last lease, rounded up to the millisecond.
    assert client.pexpiretime("jobs") == NOW_MS + 900_001
    at(plain, library, NOW + 60_000_000)  # the second lease expires...
    assert library.call("RL.RENEW", ["jobs"], [made, "1h"]) == 0
    assert library.call("RL.ACQUIRE", ["jobs"], [2, "15m", "ID", "x", "COST", 2])[0] == 0
    assert client.hexists("jobs", made)  # ... and stays until a change drops it
    assert library.call("RL.RENEW", ["jobs"], ["report", "1h"]) == 1
    assert client.hgetall("jobs") == {
        b"": f"A1 {NOW + 60_000_000}".encode(),
        b"report": f"{NOW + 3_660_000_000} 1".encode(),
    }
    assert library.call("RL.RELEASE", ["jobs"], ["report"]) == 1
    assert client.exists("jobs") == 0  # the last lease released: the key is deleted


def test_a_full_server_lets_leases_go_and_be_renewed_only(library: ScriptLibrary) -> None:
    client: redis.Redis = library.client  # type: ignore[assignment]
    library.call("RL.ACQUIRE", ["jobs"], [5, "1h", "ID", "a"])
    library.call("RL.ACQUIRE", ["jobs"], [5, "1h", "ID", "b"])
    client.config_set("maxmemory", 1)
    try:
        assert library.call("RL.RENEW", ["jobs"], ["a", "2h"]) == 1
        assert library.call("RL.RELEASE", ["jobs"], ["b"]) == 1
        refused: list[tuple[str, str, list[Any]]] = [
            ("RL.ACQUIRE", "jobs", [5, "1h"]),
            ("RL.HIT", "k", [5, 60]),
            ("RL.HIT", "k", [5, 60, "ALGO", "LOG"]),
        ]
        for command, key, args in refused:
            with pytest.raises(redis.ResponseError, match="maxmemory"):
                library.call(command, [key], args)
    finally:
        client.config_set("maxmemory", 0)
    assert client.hgetall("jobs") == {
        b"": f"A1 {NOW}".encode(),
        b"a": f"{NOW + 7_200_000_000} 1".encode(),
    }
