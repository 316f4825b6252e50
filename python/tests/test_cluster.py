"""A real cluster of three primaries, each with the module: commands go to the node of their
key without redis-py asking the server for RL.MHIT's keys (COMMAND GETKEYS)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio.cluster
import redis.cluster
from redis.crc import key_slot

from redis_rl import RL, AsyncRateLimiter, AsyncRL, RateLimiter

import servers
from conftest import command_calls

SLOTS = [(0, 5460), (5461, 10922), (10923, 16383)]


@pytest.fixture(scope="module")
def cluster(kind: servers.ServerKind) -> Iterator[list[servers.Server]]:
    nodes = [
        servers.start(kind, config={"cluster-enabled": "yes", "cluster-node-timeout": "1000"})
        for _ in SLOTS
    ]
    try:
        for node, (first, last) in zip(nodes, SLOTS, strict=True):
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        for node in nodes[1:]:
            node.client().execute_command("CLUSTER", "MEET", "127.0.0.1", nodes[0].port)
        deadline = time.monotonic() + 30
        while not all(_ready(node) for node in nodes):
            assert time.monotonic() < deadline, "the cluster did not form"
            time.sleep(0.05)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _ready(node: servers.Server) -> bool:
    client = node.client()
    info = client.execute_command("CLUSTER", "INFO").decode()
    masters = [
        line
        for line in client.execute_command("CLUSTER", "NODES").decode().splitlines()
        if "master" in line and "connected" in line
    ]
    return "cluster_state:ok" in info and len(masters) == 3


@pytest.fixture
def nodes(cluster: list[servers.Server]) -> list[servers.Server]:
    for node in cluster:
        node.client().flushall()
        node.client().config_resetstat()
    return cluster


def node_of(nodes: list[servers.Server], key: str) -> servers.Server:
    slot = key_slot(key.encode())
    return next(n for n, (lo, hi) in zip(nodes, SLOTS, strict=True) if lo <= slot <= hi)


def getkeys_calls(nodes: list[servers.Server]) -> int:
    return sum(command_calls(n.client()).get("command|getkeys", 0) for n in nodes)


def test_commands_go_to_the_node_of_their_key(nodes: list[servers.Server]) -> None:
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=nodes[0].port)
    rl = RL(client)
    identities = [f"user{i}" for i in range(12)]  # spread over the three nodes
    assert len({node_of(nodes, f"{{{i}}}").port for i in identities}) == 3
    for identity in identities:
        keys = [f"{{{identity}}}:sec", f"{{{identity}}}:hour"]
        decision = rl.mhit([(keys[0], 2, 1), (keys[1], 100, 3600)])
        assert decision.allowed and decision.position == 1
        assert rl.hit(f"{{{identity}}}:one", 1, 60).allowed
        assert rl.peek(keys[1], 100, 3600).remaining == 98
        home = node_of(nodes, keys[0]).client()
        assert home.exists(*keys, f"{{{identity}}}:one") == 3
    assert getkeys_calls(nodes) == 0
    calls = sum(command_calls(n.client()).get("rl.mhit", 0) for n in nodes)
    assert calls == len(identities)
    client.close()


def test_without_routing_redis_py_would_ask_for_the_keys(nodes: list[servers.Server]) -> None:
    """The control: the check above can fail."""
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=nodes[0].port)
    client.execute_command("RL.MHIT", 2, "{u}a", "{u}b", "LIMIT", 1, 1, "LIMIT", 1, 1)
    assert getkeys_calls(nodes) >= 1
    client.close()


def test_limiter_on_a_cluster(nodes: list[servers.Server]) -> None:
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=nodes[0].port, socket_timeout=1)
    limiter = RateLimiter(client, config={"limits": {"api": "2/second;10/minute;100/day"}})
    for identity in ("alice", "bob", "carol", "dave"):
        assert [limiter.hit(identity, "api").allowed for _ in range(3)] == [True, True, False]
        home = node_of(nodes, f"rl:{{{identity}}}:api:2/1").client()
        assert sorted(home.keys(f"rl:{{{identity}}}:*")) == [
            f"rl:{{{identity}}}:api:10/60".encode(),
            f"rl:{{{identity}}}:api:100/86400".encode(),
            f"rl:{{{identity}}}:api:2/1".encode(),
        ]
    assert getkeys_calls(nodes) == 0
    # Limits of two identities in one request: one RL.MHIT per identity (one slot each).
    from redis_rl import Limit, LimitRequest

    result = limiter.hit_many(
        [
            LimitRequest(Limit.parse("5/minute;50/hour", "user"), "erin"),
            LimitRequest(Limit.parse("1000/minute", "tenant"), "acme"),
        ]
    )
    assert result.allowed and len(result.policies) == 3
    assert getkeys_calls(nodes) == 0
    client.close()


def test_async_on_a_cluster(nodes: list[servers.Server]) -> None:
    async def scenario() -> None:
        client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=nodes[0].port)
        rl = AsyncRL(client)
        for i in range(6):
            decision = await rl.mhit([(f"{{a{i}}}:1", 1, 1), (f"{{a{i}}}:2", 5, 60)])
            assert decision.allowed and decision.position == 1
        limiter = AsyncRateLimiter(client)
        assert (await limiter.hit("zed", "1/minute;2/hour")).allowed
        assert not (await limiter.hit("zed", "1/minute;2/hour")).allowed
        await client.aclose()

    asyncio.run(scenario())
    assert getkeys_calls(nodes) == 0
