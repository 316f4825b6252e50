"""What every probe shares: the run's settings, starting servers from the matrix with the
module, and telling a crash from an answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

import argmodel
import resp
import servers

# A fixed epoch for frozen clocks (2026-11-18): runs repeat exactly, whatever the date.
EPOCH_US = 1_795_000_000_000_000


@dataclass(frozen=True)
class Config:
    quick: bool
    seed: int
    # Fuzzing: rounds of `round_commands` commands, each round on a fresh data set.
    fuzz_rounds: int
    round_commands: int
    batch_commands: int
    restore_payloads: int
    kills: int
    reshard_slots: int
    clock_steps: tuple[int, ...]
    valgrind_commands: int
    one_seed: bool = False


def full(seed: int) -> Config:
    return Config(
        quick=False,
        seed=seed,
        fuzz_rounds=50,
        round_commands=10_000,
        batch_commands=500,
        restore_payloads=10_000,
        kills=5,
        reshard_slots=400,
        clock_steps=(
            -60_000_000,
            60_000_000,
            -3_600_000_000,
            3_600_000_000,
            -86_400_000_000,
            86_400_000_000,
            -600_000_000,
            -1_000,
        ),
        valgrind_commands=5_000,
    )


def quick(seed: int) -> Config:
    return Config(
        quick=True,
        seed=seed,
        fuzz_rounds=1,
        round_commands=5_000,
        batch_commands=500,
        restore_payloads=200,
        kills=1,
        reshard_slots=40,
        clock_steps=(-3_600_000_000, 3_600_000_000),
        valgrind_commands=0,
    )


MODULE_ARGS = ("cell-compat", "yes")


def start(kind: servers.ServerKind, **kwargs: Any) -> servers.Server:
    kwargs.setdefault("module_args", MODULE_ARGS)
    return servers.start(kind, **kwargs)


def log_tail(server: servers.Server, lines: int = 15) -> str:
    text = server.log().strip().splitlines()
    return " | ".join(text[-lines:])


def answers(server: servers.Server) -> bool:
    try:
        return bool(server.client(socket_timeout=10).ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        return False


def freeze(server: servers.Server, now_us: int) -> None:
    """Freezes the server's clock and waits until the server reads it. (Valkey adds the
    monotonic time elapsed within an event-loop turn to the wall clock it read at the turn's
    start: its frozen clock drifts by microseconds, hence the tolerance.)"""
    assert server.clock is not None
    server.clock.freeze(now_us)
    server.clock.wait_seen(server.client())


def connect(server: servers.Server) -> resp.Connection:
    return resp.Connection(server.port)


def drop_expired(conn: resp.Connection) -> None:
    """Deletes the keys whose TTL has passed but that the server has not deleted yet, so that
    DBSIZE and DEBUG DIGEST count what a reload keeps. (KEYS hides such keys without deleting
    them; SCAN deletes what it meets.)"""
    cursor = b"0"
    while True:
        answer = conn.call("SCAN", cursor, "COUNT", 1000)
        assert isinstance(answer, list) and isinstance(answer[0], bytes), answer
        cursor = answer[0]
        if cursor == b"0":
            return


def grammar(server: servers.Server) -> argmodel.Grammar:
    """The argument grammar of the module the server runs (argmodel.detect)."""
    with connect(server) as conn:
        return argmodel.detect(conn.call)


def connect_port(port: int) -> resp.Connection:
    return resp.Connection(port)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def scratch(name: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"rl-soak-{name}-"))
