"""A cluster of three primaries of one server kind, each with the module, built and resharded
with the Debian redis-cli (`--cluster create`, `--cluster reshard`), which works against every
server of the matrix."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import redis

import harness
import servers

CONFIG = {
    "cluster-enabled": "yes",
    "cluster-config-file": "nodes.conf",
    "cluster-node-timeout": "5000",
}


def redis_cli() -> str:
    path = shutil.which("redis-cli")
    if not path:
        raise RuntimeError("redis-cli is missing (the redis-tools package)")
    return path


@dataclass
class Cluster:
    nodes: list[servers.Server]

    def node_id(self, node: servers.Server) -> str:
        raw = node.client().execute_command("CLUSTER", "MYID")
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def owner(self, slot: int) -> servers.Server:
        for start, end, primary, *_ in self.nodes[0].client().execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(primary[1]))
        raise LookupError(f"slot {slot} has no owner")

    def cli(self, *args: str, timeout: float = 300) -> tuple[int, str]:
        done = subprocess.run(
            [redis_cli(), "--cluster", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return done.returncode, done.stdout + done.stderr

    def reshard(
        self, source: servers.Server, target: servers.Server, slots: int
    ) -> tuple[int, str]:
        return self.cli(
            "reshard",
            f"127.0.0.1:{source.port}",
            "--cluster-from",
            self.node_id(source),
            "--cluster-to",
            self.node_id(target),
            "--cluster-slots",
            str(slots),
            "--cluster-yes",
        )

    def check(self) -> tuple[int, str]:
        return self.cli("check", f"127.0.0.1:{self.nodes[0].port}")

    def settled(self) -> bool:
        """Every node reports a healthy cluster with every slot assigned, and all agree."""
        views = []
        for node in self.nodes:
            info = node.client().execute_command("CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text or "cluster_slots_assigned:16384" not in text:
                return False
            slots = node.client().execute_command("CLUSTER", "SLOTS")
            views.append(sorted((s[0], s[1], int(s[2][1])) for s in slots))
        return all(v == views[0] for v in views)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, socket_timeout=10)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start(kind: servers.ServerKind, size: int = 3) -> Cluster:
    nodes: list[servers.Server] = []
    try:
        for _ in range(size):
            # A bus port of its own: the default (port + 10000) may be taken, or past 65535.
            config = {**CONFIG, "cluster-port": str(servers.free_port())}
            nodes.append(harness.start(kind, config=config))
        cluster = Cluster(nodes)
        rc, out = cluster.cli(
            "create",
            *[f"127.0.0.1:{n.port}" for n in nodes],
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        )
        if rc != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {out[-2000:]}")
        harness.wait_for(cluster.settled, 60, "the cluster to settle")
        return cluster
    except BaseException:
        for node in nodes:
            node.stop()
        raise
