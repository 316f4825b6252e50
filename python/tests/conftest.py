"""Fixtures: real servers of the matrix (tests/support/servers.py), started once per session
and stopped by pid; a frozen server clock; HTTP servers in threads for the integrations.

RL_SERVERS chooses the servers (scripts/test-matrix.sh runs the suite once per server); by
default every server of the matrix is a parameter of the server fixtures.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from redis_rl import Decision  # noqa: E402

import servers  # noqa: E402

KINDS = servers.matrix()
# A fixed instant for frozen clocks: 2027-01-15T08:00:00Z, in microseconds.
FROZEN_AT_US = 1_800_000_000_000_000


@pytest.fixture(scope="session", params=KINDS, ids=[kind.id for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> servers.ServerKind:
    return request.param


@pytest.fixture(scope="session")
def module_server(kind: servers.ServerKind) -> Iterator[servers.Server]:
    """A server with the module (CL.THROTTLE registered) and a clock the tests control."""
    server = servers.start(kind, module_args=("cell-compat", "yes"), clock=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plain_server(kind: servers.ServerKind) -> Iterator[servers.Server]:
    """A server without the module, as on a managed service that forbids MODULE LOAD."""
    server = servers.start(kind, module=False, clock=True)
    yield server
    server.stop()


@pytest.fixture
def server(module_server: servers.Server) -> Iterator[servers.Server]:
    """The module server, emptied, its clock running free again after the test."""
    module_server.client().flushall()
    yield module_server
    assert module_server.clock is not None
    module_server.clock.shift(0)


@pytest.fixture
def plain(plain_server: servers.Server) -> Iterator[servers.Server]:
    """The server without the module, emptied, its clock running free again after."""
    plain_server.client().flushall()
    yield plain_server
    assert plain_server.clock is not None
    plain_server.clock.shift(0)


@pytest.fixture
def client(server: servers.Server) -> Iterator[redis.Redis]:
    connection = server.client(socket_timeout=5)
    yield connection
    connection.close()


class FrozenClock:
    """The server's clock, stopped at an instant the test moves by hand.

    Valkey adds to the wall clock it reads once per event-loop turn the monotonic time
    elapsed since (tens to hundreds of microseconds), so even frozen its instants differ
    by less than a millisecond from command to command: times it answers in rounded-up
    milliseconds may then differ by 1 ms (`slack_ms`). Tests check whole seconds at instants
    away from a second's edge.
    """

    def __init__(self, server: servers.Server) -> None:
        assert server.clock is not None
        self.server = server
        self.clock = server.clock
        self.slack_ms = 1 if server.kind.name.startswith("Valkey") else 0
        self.clock.freeze(FROZEN_AT_US)
        self.seen()

    def seen(self) -> None:
        self.clock.wait_seen(self.server.client(socket_timeout=5), tolerance_us=1000)

    def advance_ms(self, milliseconds: int) -> None:
        self.clock.advance(milliseconds * 1000)
        self.seen()

    def assert_ms(self, actual: int | None, expected: int) -> None:
        slack = self.slack_ms
        assert actual is not None and expected - slack <= actual <= expected + slack, (
            f"{actual} ms, expected {expected} ms"
        )

    def assert_decision(self, actual: Decision, expected: Decision) -> None:
        """Equal, but for up to `slack_ms` more in the times."""
        assert (actual.allowed, actual.limit, actual.remaining, actual.position) == (
            expected.allowed,
            expected.limit,
            expected.remaining,
            expected.position,
        ), f"{actual} != {expected}"
        if expected.retry_after_ms is None:
            assert actual.retry_after_ms is None
        else:
            self.assert_ms(actual.retry_after_ms, expected.retry_after_ms)
        self.assert_ms(actual.reset_after_ms, expected.reset_after_ms)


@pytest.fixture
def frozen(server: servers.Server) -> FrozenClock:
    return FrozenClock(server)


@pytest.fixture
def frozen_plain(plain: servers.Server) -> FrozenClock:
    return FrozenClock(plain)


@pytest.fixture
def unique() -> str:
    """A name no other test uses."""
    return uuid.uuid4().hex[:12]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    return int(servers.free_port())


def command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT, from INFO commandstats."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def rl_calls(client: redis.Redis) -> dict[str, int]:
    return {name: n for name, n in command_calls(client).items() if name.startswith("rl.")}


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serves a WSGI app with werkzeug's server in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    http = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll: shutdown() waits for the loop to look again.
    thread = threading.Thread(target=http.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join()
        http.server_close()


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serves an ASGI app with uvicorn in a thread; yields its base URL."""
    import uvicorn

    port = servers.free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    http = uvicorn.Server(config)
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not http.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        http.should_exit = True
        thread.join()
