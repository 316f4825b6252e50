"""The fallback on a cluster of three primaries without the module: each call goes to the node
of its keys in one round trip (redis-py never asks a node where FCALL's keys are), and the
script or library is loaded on whichever node lacks it."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio.cluster
import redis.cluster

from redis_rl.scripts import AsyncScriptLibrary, Mode, ScriptLibrary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "support"))
import servers

SLOTS = [(0, 5460), (5461, 10922), (10923, 16383)]
# Hash tags on all three nodes: {a} 15495, {b} 3300, {c} 7365, {d} 11298, {e} 15363, {f} 3168.
IDENTITIES = ["a", "b", "c", "d", "e", "f"]
MODES: list[Mode] = ["script", "function"]


@pytest.fixture(scope="module", params=servers.matrix(), ids=lambda kind: kind.id)
def cluster(request: pytest.FixtureRequest) -> Iterator[list[servers.Server]]:
    config = {"cluster-enabled": "yes", "cluster-node-timeout": "1000"}
    nodes = [servers.start(request.param, module=False, config=config) for _ in SLOTS]
    try:
        for node, (first, last) in zip(nodes, SLOTS, strict=True):
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        for node in nodes[1:]:
            node.client().execute_command("CLUSTER", "MEET", "127.0.0.1", nodes[0].port)
        deadline = time.monotonic() + 30
        while not all(ready(node) for node in nodes):
            assert time.monotonic() < deadline, "the cluster did not form"
            time.sleep(0.05)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def ready(node: servers.Server) -> bool:
    """The cluster is up and this node knows all three primaries."""
    client = node.client()
    info = client.execute_command("CLUSTER", "INFO")
    known = client.execute_command("CLUSTER", "NODES").decode().count("master")
    return b"cluster_state:ok" in info and known == len(SLOTS)


@pytest.fixture
def nodes(cluster: list[servers.Server]) -> list[servers.Server]:
    for node in cluster:
        client = node.client()
        client.flushall()
        client.script_flush()
        client.function_flush()
        client.config_resetstat()
    return cluster


def getkeys_calls(nodes: list[servers.Server]) -> int:
    stats = [n.client().info("commandstats") for n in nodes]
    return sum(s.get("cmdstat_command|getkeys", {}).get("calls", 0) for s in stats)


def calls_per_node(nodes: list[servers.Server], mode: Mode) -> list[int]:
    name = "cmdstat_evalsha" if mode == "script" else "cmdstat_fcall"
    return [n.client().info("commandstats").get(name, {}).get("calls", 0) for n in nodes]


def flush_all(nodes: list[servers.Server], mode: Mode) -> None:
    for node in nodes:
        if mode == "script":
            node.client().script_flush()
        else:
            node.client().function_flush()


@pytest.mark.parametrize("mode", MODES)
def test_calls_go_to_the_node_of_their_keys(nodes: list[servers.Server], mode: Mode) -> None:
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=nodes[0].port)
    try:
        library = ScriptLibrary(client, mode)
        for identity in IDENTITIES:
            keys = [f"{{{identity}}}:sec", f"{{{identity}}}:hour"]
            assert library.call("RL.HIT", keys[:1], [2, 1])[:3] == [1, 2, 1]
            assert library.call("RL.PEEK", keys[:1], [2, 1])[:3] == [1, 2, 0]
            reply = library.call("RL.MHIT", keys, ["LIMIT", 2, 1, "LIMIT", 100, 3600])
            assert reply[:3] == [1, 2, 0]
            assert reply[5] == 1
            log = [f"{{{identity}}}:otp"]
            assert library.call("RL.HIT", log, [3, "1h", "ALGO", "LOG"])[:3] == [1, 3, 2]
            jobs = [f"{{{identity}}}:jobs"]
            assert library.call("RL.ACQUIRE", jobs, [2, 60, "ID", "w"])[5] == b"w"
            assert library.call("RL.RENEW", jobs, ["w", 120]) == 1
            assert library.call("RL.RELEASE", jobs, ["w"]) == 1
        # Every node served its share, and none was asked where the keys are.
        assert all(calls > 0 for calls in calls_per_node(nodes, mode))
        assert getkeys_calls(nodes) == 0
        flush_all(nodes, mode)
        for identity in IDENTITIES:
            assert library.call("RL.HIT", [f"{{{identity}}}:sec"], [2, 1])[:3] == [0, 2, 0]
        assert getkeys_calls(nodes) == 0
    finally:
        client.close()


@pytest.mark.parametrize("mode", MODES)
def test_async_cluster(nodes: list[servers.Server], mode: Mode) -> None:
    async def run() -> list[list[int]]:
        client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=nodes[0].port)
        try:
            library = AsyncScriptLibrary(client, mode)
            replies = []
            for identity in IDENTITIES:
                replies.append(await library.call("RL.HIT", [f"{{{identity}}}:k"], [1, 60]))
            flush_all(nodes, mode)
            for identity in IDENTITIES:
                replies.append(await library.call("RL.PEEK", [f"{{{identity}}}:k"], [1, 60]))
            return replies
        finally:
            await client.aclose()

    replies = asyncio.run(run())
    assert [r[0] for r in replies] == [1] * 6 + [0] * 6
    assert getkeys_calls(nodes) == 0
