"""Loading the fallback where the module is not: on first use, again after the script cache or
the functions are flushed (NOSCRIPT, a missing function), as a versioned library next to
others, through redis.asyncio, and on a read-only replica for RL.PEEK (FCALL_RO)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from redis_rl import scripts
from redis_rl.scripts import AsyncScriptLibrary, Mode, ScriptLibrary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "support"))
import servers

MODES: list[Mode] = ["script", "function"]


@pytest.fixture(scope="module", params=servers.matrix(), ids=lambda kind: kind.id)
def plain(request: pytest.FixtureRequest) -> Iterator[servers.Server]:
    """A server without the module, as on a managed service."""
    running = servers.start(request.param, module=False)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(plain: servers.Server) -> redis.Redis:
    c: redis.Redis = plain.client()
    c.flushall()
    c.script_flush()
    c.function_flush()
    return c


def flush(client: redis.Redis, mode: Mode) -> None:
    if mode == "script":
        client.script_flush()
    else:
        client.function_flush()


@pytest.mark.parametrize("mode", MODES)
def test_loads_on_first_use_and_again_after_a_flush(client: redis.Redis, mode: Mode) -> None:
    library = ScriptLibrary(client, mode)
    remaining = [library.call("RL.HIT", ["k"], [5, 60])[2] for _ in range(2)]
    flush(client, mode)
    remaining.append(library.call("RL.HIT", ["k"], [5, 60])[2])
    flush(client, mode)
    remaining.append(library.call("RL.PEEK", ["k"], [5, 60])[2])
    flush(client, mode)
    reply = library.call("RL.MHIT", ["k", "j"], ["LIMIT", 5, 60, "LIMIT", 2, 60])
    # The state survives the reloads: one unit per hit; the peek answers what a hit would
    # (1 left after it) and consumes nothing, so the RL.MHIT still finds 2 left on k.
    assert remaining == [4, 3, 2, 1]
    assert reply[:4] == [1, 5, 1, 0]
    assert reply[5] == 1


def test_a_script_loaded_by_another_client_is_used_as_it_is(client: redis.Redis) -> None:
    assert client.script_load(scripts.SCRIPT) == scripts.SCRIPT_SHA
    assert ScriptLibrary(client, "script").call("RL.HIT", ["k"], [5, 60])[:3] == [1, 5, 4]
    assert client.script_exists(scripts.SCRIPT_SHA) == [True]


def test_the_library_is_versioned_and_peek_is_read_only(client: redis.Redis) -> None:
    client.function_load(
        "#!lua name=rl_older\n"
        "redis.register_function('rl_hit_older', function(keys, args) return 0 end)\n"
    )
    ScriptLibrary(client, "function").call("RL.HIT", ["k"], [5, 60])
    libraries = {lib["library_name"]: lib for lib in decoded(client.function_list())}
    assert set(libraries) == {"rl_older", scripts.LIBRARY_NAME}
    assert f"rl_{scripts.VERSION}" == scripts.LIBRARY_NAME
    functions = {f["name"]: f["flags"] for f in libraries[scripts.LIBRARY_NAME]["functions"]}
    assert functions == {
        f"rl_hit_{scripts.VERSION}": [],
        f"rl_peek_{scripts.VERSION}": ["no-writes"],
        f"rl_mhit_{scripts.VERSION}": [],
        f"rl_acquire_{scripts.VERSION}": [],
        # Not deny-oom, as the module's RL.RELEASE and RL.RENEW.
        f"rl_release_{scripts.VERSION}": ["allow-oom"],
        f"rl_renew_{scripts.VERSION}": ["allow-oom"],
    }
    # Loading the same version again replaces it in place.
    client.function_load(scripts.LIBRARY, replace=True)
    assert ScriptLibrary(client, "function").call("RL.PEEK", ["k"], [5, 60])[:3] == [1, 5, 3]


def decoded(value: Any) -> Any:
    """FUNCTION LIST's RESP2 reply with its maps (flat lists of name, value) as dicts."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        names = value[0::2]
        if names and names[0] in (b"library_name", b"name") and len(value) % 2 == 0:
            return {k.decode(): decoded(v) for k, v in zip(names, value[1::2], strict=True)}
        return [decoded(v) for v in value]
    return value


@pytest.mark.parametrize("mode", MODES)
def test_async_library(plain: servers.Server, client: redis.Redis, mode: Mode) -> None:
    async def run() -> list[list[int]]:
        aclient = redis.asyncio.Redis(host="127.0.0.1", port=plain.port)
        try:
            library = AsyncScriptLibrary(aclient, mode)
            replies = [await library.call("RL.HIT", ["k"], [3, "1h", "ALGO", "GCRA"])]
            flush(client, mode)
            replies.append(await library.call("RL.HIT", ["k"], [3, "1h", "ALGO", "GCRA"]))
            flush(client, mode)
            replies.append(await library.call("RL.PEEK", ["k"], [3, "1h", "ALGO", "GCRA"]))
            replies.append(await library.call("RL.MHIT", ["k"], ["LIMIT", 3, "1h", "ALGO", "GCRA"]))
            with pytest.raises(redis.ResponseError, match=r"^limit must be"):
                await library.call("RL.HIT", ["k"], [0, "1h"])
            return replies
        finally:
            await aclient.aclose()

    replies = asyncio.run(run())
    assert [r[:3] for r in replies] == [[1, 3, 2], [1, 3, 1], [1, 3, 0], [1, 3, 0]]


@pytest.fixture
def replica(plain: servers.Server, client: redis.Redis) -> Iterator[redis.Redis]:
    running = servers.start(plain.kind, module=False)
    try:
        c = running.client()
        c.replicaof("127.0.0.1", plain.port)
        deadline = time.monotonic() + 20
        while c.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.05)
        yield c
    finally:
        running.stop()


def test_peek_runs_on_a_read_only_replica(client: redis.Redis, replica: redis.Redis) -> None:
    primary = ScriptLibrary(client, "function")
    primary.call("RL.HIT", ["k"], [5, 60, "COST", 2])
    deadline = time.monotonic() + 10
    while replica.exists("k") == 0:
        assert time.monotonic() < deadline, "the state did not reach the replica"
        time.sleep(0.01)
    # Functions reach the replica with the data; FCALL_RO runs there.
    assert ScriptLibrary(replica, "function").call("RL.PEEK", ["k"], [5, 60])[:3] == [1, 5, 2]
    with pytest.raises(redis.ReadOnlyError):
        ScriptLibrary(replica, "function").call("RL.HIT", ["k"], [5, 60])
    # The script form loads itself on the replica (EVAL), and peeks without writing.
    assert ScriptLibrary(replica, "script").call("RL.PEEK", ["k"], [5, 60])[:3] == [1, 5, 2]
