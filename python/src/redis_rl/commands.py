"""Typed access to the limiter commands: `RL` over a redis-py client (plain or cluster) and
`AsyncRL` over a redis.asyncio one. Rate limits (RL.HIT, RL.PEEK, RL.MHIT, CL.THROTTLE) and
concurrency leases (RL.ACQUIRE, RL.RELEASE, RL.RENEW).

Each call is one command and one round trip. The replies are parsed here (the same integers
in RESP2 and RESP3). On a cluster every command goes straight to the node of its first key:
redis-py would otherwise ask the server for RL.MHIT's keys (`COMMAND GETKEYS`) on each call.

`backend` picks what decides: "module" (RL.* commands; the default), "script" or "function"
(the Lua library of `redis_rl.scripts`, through EVALSHA or FCALL, for servers that cannot
load modules), or "auto": the module when the server has it, otherwise the script; checked
once, on first use, and logged.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal, NamedTuple, Protocol, cast, get_args

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.typing import EncodableT, KeyT

from .decision import Acquired, Decision

__all__ = [
    "RL",
    "Algorithm",
    "AsyncClient",
    "AsyncRL",
    "BackendName",
    "KeyLimit",
    "LeaseId",
    "ResolvedBackend",
    "SyncClient",
    "Window",
]

log = logging.getLogger("redis_rl")

Algorithm = Literal["sliding", "fixed", "token", "leaky", "gcra", "log"]
BackendName = Literal["auto", "module", "script", "function"]
ResolvedBackend = Literal["module", "script", "function"]
Window = int | float | timedelta | str
"""A window (or a lease's duration): seconds (int, or float in whole milliseconds), a
timedelta, or the module's duration text ("60", "1500ms", "10s", "5m", "1h", "1d")."""
LeaseId = str | bytes
"""A lease id: 1 to 64 bytes, given as text (UTF-8) or bytes."""

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

MAX_INT = 2**63 - 1
BUCKETS = frozenset({"token", "leaky", "gcra"})
"""The algorithms that take a BURST."""
MAX_MHIT_KEYS = 64
# The most a lease limit may be: rl.lease-max-held at its highest (the server checks its own).
MAX_LEASE_LIMIT = 1_000_000
MAX_LEASE_ID = 64


class KeyLimit(NamedTuple):
    """One key of an RL.MHIT call and the limit it is held to."""

    key: KeyT
    limit: int
    window: Window
    algo: Algorithm | None = None
    burst: int | None = None


class _ScriptLibrary(Protocol):
    def call(self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any: ...


class _AsyncScriptLibrary(Protocol):
    async def call(self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any: ...


# --- arguments ---------------------------------------------------------------------------


def _whole(name: str, value: object, least: int = 1, most: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if not least <= value <= most:
        raise ValueError(f"{name} must be an integer from {least} to {most}, not {value}")
    return value


def window_argument(window: Window, name: str = "window") -> str:
    """The module's text for a window (or a lease, `name`): whole seconds as a bare integer,
    else milliseconds."""
    if isinstance(window, str):
        return window
    if isinstance(window, timedelta):
        micros = window // timedelta(microseconds=1)
        if micros % 1000:
            raise ValueError(f"{name} must be whole milliseconds, not {window!r}")
        milliseconds = micros // 1000
    elif isinstance(window, bool) or not isinstance(window, (int, float)):
        raise ValueError(f"{name} must be seconds, a timedelta or a duration text, not {window!r}")
    elif isinstance(window, int):
        return str(_whole(name, window))
    else:
        milliseconds = round(window * 1000)
        if abs(milliseconds - window * 1000) > 1e-6:
            raise ValueError(f"{name} must be whole milliseconds, not {window!r} s")
    if milliseconds < 1:
        raise ValueError(f"{name} must be at least 1 ms, not {window!r}")
    if milliseconds % 1000 == 0:
        return str(milliseconds // 1000)
    return f"{milliseconds}ms"


def lease_id_argument(lease_id: LeaseId) -> bytes:
    """A lease id as the bytes sent: text as UTF-8 (an id read from a reply, whose other bytes
    were kept as surrogates, gives the same bytes back)."""
    if isinstance(lease_id, str):
        raw = lease_id.encode("utf-8", "surrogateescape")
    elif isinstance(lease_id, bytes):
        raw = lease_id
    else:
        raise ValueError(f"a lease id must be text or bytes, not {lease_id!r}")
    if not 1 <= len(raw) <= MAX_LEASE_ID:
        raise ValueError(f"a lease id must be 1 to {MAX_LEASE_ID} bytes, not {len(raw)}")
    return raw


def acquire_arguments(
    limit: int, lease: Window, cost: int, lease_id: LeaseId | None
) -> list[EncodableT]:
    """The arguments of RL.ACQUIRE after the key."""
    args: list[EncodableT] = [
        _whole("limit", limit, 1, MAX_LEASE_LIMIT),
        window_argument(lease, "lease"),
    ]
    if _whole("cost", cost) != 1:
        args += ["COST", cost]
    if lease_id is not None:
        args += ["ID", lease_id_argument(lease_id)]
    return args


def _options(algo: Algorithm | None, burst: int | None) -> list[EncodableT]:
    options: list[EncodableT] = []
    if algo is not None:
        if algo.lower() not in get_args(Algorithm):
            raise ValueError(f"algo must be one of {', '.join(get_args(Algorithm))}, not {algo!r}")
        options += ["ALGO", algo.upper()]
    if burst is not None and algo is not None and algo.lower() not in BUCKETS:
        # The module's rule; without ALGO the server's default algorithm decides.
        raise ValueError(
            f"burst applies to the token, leaky and gcra algorithms only, not {algo!r}"
        )
    if burst is not None:
        options += ["BURST", _whole("burst", burst)]
    return options


def hit_arguments(
    limit: int, window: Window, cost: int, algo: Algorithm | None, burst: int | None
) -> list[EncodableT]:
    """The arguments of RL.HIT and RL.PEEK after the key."""
    args: list[EncodableT] = [_whole("limit", limit), window_argument(window)]
    if _whole("cost", cost) != 1:
        args += ["COST", cost]
    return args + _options(algo, burst)


def mhit_arguments(
    limits: Sequence[KeyLimit | tuple[Any, ...]], cost: int
) -> tuple[list[KeyT], list[EncodableT]]:
    """RL.MHIT's keys and the arguments after them (numkeys is len(keys))."""
    if not 1 <= len(limits) <= MAX_MHIT_KEYS:
        raise ValueError(f"RL.MHIT takes 1 to {MAX_MHIT_KEYS} limits, not {len(limits)}")
    keys: list[KeyT] = []
    args: list[EncodableT] = []
    for item in limits:
        entry = item if isinstance(item, KeyLimit) else KeyLimit(*item)
        keys.append(entry.key)
        args += ["LIMIT", _whole("limit", entry.limit), window_argument(entry.window)]
        args += _options(entry.algo, entry.burst)
    if _whole("cost", cost) != 1:
        args += ["COST", cost]
    return keys, args


def _argv(command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> list[EncodableT]:
    if command == "RL.MHIT":
        return [command, len(keys), *keys, *args]
    return [command, *keys, *args]


def _check_backend(backend: str) -> None:
    if backend not in get_args(BackendName):
        raise ValueError(
            f"backend must be one of {', '.join(get_args(BackendName))}, not {backend!r}"
        )


def _is_rl_module(entry: Any) -> bool:
    """One entry of MODULE LIST: a flat list (RESP2) or a map (RESP3)."""
    fields = entry if isinstance(entry, dict) else dict(zip(entry[::2], entry[1::2], strict=True))
    name = fields.get(b"name", fields.get("name"))
    return name in (b"rl", "rl")


def _is_unknown_command(error: redis.ResponseError) -> bool:
    return "unknown command" in str(error).lower()


def _log_backend(backend: ResolvedBackend) -> None:
    if backend == "module":
        log.info("redis-rl: the server has the rl module; deciding with its RL.* commands")
    else:
        log.info(
            "redis-rl: the server has no rl module; deciding with the Lua script fallback (%s)",
            "EVALSHA" if backend == "script" else "FCALL",
        )


def _script_module() -> Any:
    try:
        return importlib.import_module("redis_rl.scripts")
    except ModuleNotFoundError as error:
        if error.name != "redis_rl.scripts":
            raise
        raise RuntimeError(
            "the Lua script fallback (redis_rl.scripts) is not part of this installation"
        ) from error


# --- synchronous -------------------------------------------------------------------------


class RL:
    """The limiter commands over a redis-py client (`redis.Redis` or `RedisCluster`)."""

    def __init__(self, client: SyncClient, backend: BackendName = "module") -> None:
        _check_backend(backend)
        self.client = client
        self._cluster = isinstance(client, redis.cluster.RedisCluster)
        self._backend: ResolvedBackend | None = None if backend == "auto" else backend
        self._scripts: _ScriptLibrary | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> ResolvedBackend:
        """What decides; with "auto", asks the server on first use (may raise RedisError)."""
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    found: ResolvedBackend = "module" if self._has_module() else "script"
                    _log_backend(found)
                    self._backend = found
        return self._backend

    def _has_module(self) -> bool:
        try:
            client: Any = self.client
            options = {"target_nodes": client.get_default_node()} if self._cluster else {}
            modules = client.execute_command("MODULE", "LIST", **options)
            return any(_is_rl_module(entry) for entry in modules)
        except redis.ResponseError:
            # MODULE LIST is refused on managed services: ask for the command itself.
            try:
                self._module_call("RL.PEEK", ["rl:probe"], [1, 1])
                return True
            except redis.ResponseError as error:
                if _is_unknown_command(error):
                    return False
                raise

    def _module_call(self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any:
        argv = _argv(command, keys, args)
        client: Any = self.client  # redis-py's sync methods are not annotated
        if self._cluster:
            return client.execute_command(*argv, target_nodes=client.get_node_from_key(keys[0]))
        return client.execute_command(*argv)

    def call(self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any:
        """Runs RL.HIT, RL.PEEK, RL.MHIT, RL.ACQUIRE, RL.RELEASE or RL.RENEW (keys, then the
        rest; no numkeys) on the backend."""
        backend = self.backend
        if backend == "module":
            return self._module_call(command, keys, args)
        if self._scripts is None:
            self._scripts = cast(
                _ScriptLibrary, _script_module().ScriptLibrary(self.client, backend)
            )
        return self._scripts.call(command, keys, args)

    def hit(
        self,
        key: KeyT,
        limit: int,
        window: Window,
        *,
        cost: int = 1,
        algo: Algorithm | None = None,
        burst: int | None = None,
    ) -> Decision:
        """RL.HIT: decides and, when allowed, consumes `cost` units."""
        reply = self.call("RL.HIT", [key], hit_arguments(limit, window, cost, algo, burst))
        return Decision.from_reply(reply, "RL.HIT")

    def peek(
        self,
        key: KeyT,
        limit: int,
        window: Window,
        *,
        cost: int = 1,
        algo: Algorithm | None = None,
        burst: int | None = None,
    ) -> Decision:
        """RL.PEEK: what RL.HIT would answer now, consuming nothing."""
        reply = self.call("RL.PEEK", [key], hit_arguments(limit, window, cost, algo, burst))
        return Decision.from_reply(reply, "RL.PEEK")

    def mhit(self, limits: Sequence[KeyLimit | tuple[Any, ...]], *, cost: int = 1) -> Decision:
        """RL.MHIT: several limits, all or nothing; `position` names the one that decided."""
        keys, args = mhit_arguments(limits, cost)
        return Decision.from_reply(self.call("RL.MHIT", keys, args), "RL.MHIT")

    def throttle(
        self, key: KeyT, max_burst: int, count: int, period: int, quantity: int = 1
    ) -> Decision:
        """CL.THROTTLE (the module loaded with `cell-compat yes`); times in whole seconds."""
        if self.backend != "module":
            raise RuntimeError("CL.THROTTLE is a command of the rl module; the script has none")
        args = [
            _whole("max_burst", max_burst, 0, MAX_INT - 1),
            _whole("count", count),
            _whole("period", period),
            _whole("quantity", quantity, 0),
        ]
        return Decision.from_throttle_reply(self._module_call("CL.THROTTLE", [key], args))

    def acquire(
        self,
        key: KeyT,
        limit: int,
        lease: Window,
        *,
        cost: int = 1,
        id: LeaseId | None = None,
    ) -> Acquired:
        """RL.ACQUIRE: a lease on `cost` units of `key`, where at most `limit` are held at once,
        for `lease` unless renewed. `id`: the lease's id (default: the server makes one); an id
        that holds a lease already is the same holder asking again."""
        reply = self.call("RL.ACQUIRE", [key], acquire_arguments(limit, lease, cost, id))
        return Acquired.from_reply(reply)

    def release(self, key: KeyT, id: LeaseId) -> bool:
        """RL.RELEASE: True if the lease was held and is now released, False if it had expired
        or never existed."""
        return bool(self.call("RL.RELEASE", [key], [lease_id_argument(id)]))

    def renew(self, key: KeyT, id: LeaseId, lease: Window) -> bool:
        """RL.RENEW: True if the lease was held and now expires `lease` from now, False if it
        had expired or never existed (the holder lost it)."""
        args: list[EncodableT] = [lease_id_argument(id), window_argument(lease, "lease")]
        return bool(self.call("RL.RENEW", [key], args))


# --- asynchronous ------------------------------------------------------------------------


class AsyncRL:
    """The limiter commands over a redis.asyncio client (`Redis` or `RedisCluster`)."""

    def __init__(self, client: AsyncClient, backend: BackendName = "module") -> None:
        _check_backend(backend)
        self.client = client
        self._cluster = isinstance(client, redis.asyncio.cluster.RedisCluster)
        self._backend: ResolvedBackend | None = None if backend == "auto" else backend
        self._scripts: _AsyncScriptLibrary | None = None
        self._lock: asyncio.Lock | None = None

    async def resolve_backend(self) -> ResolvedBackend:
        """What decides; with "auto", asks the server on first use (may raise RedisError)."""
        if self._backend is None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self._backend is None:
                    found: ResolvedBackend = "module" if await self._has_module() else "script"
                    _log_backend(found)
                    self._backend = found
        return self._backend

    async def _has_module(self) -> bool:
        try:
            client: Any = self.client
            options = {}
            if self._cluster:
                await client.initialize()
                options = {"target_nodes": client.get_default_node()}
            modules = await client.execute_command("MODULE", "LIST", **options)
            return any(_is_rl_module(entry) for entry in modules)
        except redis.ResponseError:
            try:
                await self._module_call("RL.PEEK", ["rl:probe"], [1, 1])
                return True
            except redis.ResponseError as error:
                if _is_unknown_command(error):
                    return False
                raise

    async def _module_call(
        self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]
    ) -> Any:
        argv = _argv(command, keys, args)
        if self._cluster:
            client = cast(redis.asyncio.cluster.RedisCluster, self.client)
            await client.initialize()  # the slot table, on first use (then at once)
            node = client.get_node_from_key(cast(str, keys[0]))
            return await client.execute_command(*argv, target_nodes=node)
        return await self.client.execute_command(*argv)

    async def call(self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Any:
        """Runs RL.HIT, RL.PEEK, RL.MHIT, RL.ACQUIRE, RL.RELEASE or RL.RENEW (keys, then the
        rest; no numkeys) on the backend."""
        backend = await self.resolve_backend()
        if backend == "module":
            return await self._module_call(command, keys, args)
        if self._scripts is None:
            library = _script_module().AsyncScriptLibrary(self.client, backend)
            self._scripts = cast(_AsyncScriptLibrary, library)
        return await self._scripts.call(command, keys, args)

    async def hit(
        self,
        key: KeyT,
        limit: int,
        window: Window,
        *,
        cost: int = 1,
        algo: Algorithm | None = None,
        burst: int | None = None,
    ) -> Decision:
        """RL.HIT: decides and, when allowed, consumes `cost` units."""
        reply = await self.call("RL.HIT", [key], hit_arguments(limit, window, cost, algo, burst))
        return Decision.from_reply(reply, "RL.HIT")

    async def peek(
        self,
        key: KeyT,
        limit: int,
        window: Window,
        *,
        cost: int = 1,
        algo: Algorithm | None = None,
        burst: int | None = None,
    ) -> Decision:
        """RL.PEEK: what RL.HIT would answer now, consuming nothing."""
        reply = await self.call("RL.PEEK", [key], hit_arguments(limit, window, cost, algo, burst))
        return Decision.from_reply(reply, "RL.PEEK")

    async def mhit(
        self, limits: Sequence[KeyLimit | tuple[Any, ...]], *, cost: int = 1
    ) -> Decision:
        """RL.MHIT: several limits, all or nothing; `position` names the one that decided."""
        keys, args = mhit_arguments(limits, cost)
        return Decision.from_reply(await self.call("RL.MHIT", keys, args), "RL.MHIT")

    async def throttle(
        self, key: KeyT, max_burst: int, count: int, period: int, quantity: int = 1
    ) -> Decision:
        """CL.THROTTLE (the module loaded with `cell-compat yes`); times in whole seconds."""
        if await self.resolve_backend() != "module":
            raise RuntimeError("CL.THROTTLE is a command of the rl module; the script has none")
        args = [
            _whole("max_burst", max_burst, 0, MAX_INT - 1),
            _whole("count", count),
            _whole("period", period),
            _whole("quantity", quantity, 0),
        ]
        reply = await self._module_call("CL.THROTTLE", [key], args)
        return Decision.from_throttle_reply(reply)

    async def acquire(
        self,
        key: KeyT,
        limit: int,
        lease: Window,
        *,
        cost: int = 1,
        id: LeaseId | None = None,
    ) -> Acquired:
        """RL.ACQUIRE (see RL.acquire)."""
        reply = await self.call("RL.ACQUIRE", [key], acquire_arguments(limit, lease, cost, id))
        return Acquired.from_reply(reply)

    async def release(self, key: KeyT, id: LeaseId) -> bool:
        """RL.RELEASE (see RL.release)."""
        return bool(await self.call("RL.RELEASE", [key], [lease_id_argument(id)]))

    async def renew(self, key: KeyT, id: LeaseId, lease: Window) -> bool:
        """RL.RENEW (see RL.renew)."""
        args: list[EncodableT] = [lease_id_argument(id), window_argument(lease, "lease")]
        return bool(await self.call("RL.RENEW", [key], args))
