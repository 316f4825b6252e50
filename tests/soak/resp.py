"""A minimal RESP2/RESP3 connection that pipelines raw commands and returns raw replies.

The soak sends arguments that no client library would build (empty strings, bytes that are
not UTF-8, thousands of commands in one write) and must see every reply exactly as the server
sent it, errors included, without a library turning them into exceptions, booleans or strings.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass

Arg = bytes | str | int


@dataclass(frozen=True)
class Error:
    """An error reply: its full text."""

    text: str

    @property
    def code(self) -> str:
        return self.text.split(" ", 1)[0]


@dataclass(frozen=True)
class Status:
    """A simple-string reply (+OK, +QUEUED, +PONG)."""

    text: str


Reply = int | bytes | None | Status | Error | float | bool | list["Reply"]


class ConnectionLost(Exception):
    """The server closed the connection (or died) before every reply came."""

    def __init__(self, replies: list[Reply]) -> None:
        super().__init__(f"connection lost after {len(replies)} replies")
        self.replies = replies


def encode(args: Sequence[Arg]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, int):
            arg = str(arg).encode()
        elif isinstance(arg, str):
            arg = arg.encode()
        out.append(b"$%d\r\n" % len(arg))
        out.append(arg)
        out.append(b"\r\n")
    return b"".join(out)


class Connection:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 60.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pos = 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Reply]:
        """Sends every command in one write and reads one reply per command. Raises
        ConnectionLost with the replies read so far when the server goes away."""
        payload = b"".join(encode(c) for c in commands)
        replies: list[Reply] = []
        try:
            self.sock.sendall(payload)
            for _ in commands:
                replies.append(self._read())
        except (OSError, EOFError) as e:
            raise ConnectionLost(replies) from e
        return replies

    def call(self, *args: Arg) -> Reply:
        return self.pipeline([list(args)])[0]

    # Parsing -----------------------------------------------------------------------------

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed the connection")
        if self.pos:
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos : end]
                self.pos = end + 2
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos : self.pos + n]
        self.pos += n + 2
        return data

    def _read(self) -> Reply:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"+":
            return Status(rest.decode(errors="replace"))
        if kind == b"-":
            return Error(rest.decode(errors="replace"))
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        if kind == b"%":
            n = int(rest)
            flat: list[Reply] = []
            for _ in range(n):
                flat.append(self._read())
                flat.append(self._read())
            return flat
        if kind == b"_":
            return None
        if kind == b"#":
            return rest == b"t"
        if kind == b",":
            return float(rest)
        if kind == b"(":
            return int(rest)
        if kind == b"=":
            return self._exact(int(rest))[4:]
        if kind == b"!":
            return Error(self._exact(int(rest)).decode(errors="replace"))
        if kind == b"|":
            for _ in range(2 * int(rest)):
                self._read()
            return self._read()
        raise EOFError(f"unparseable reply line {line[:80]!r}")
