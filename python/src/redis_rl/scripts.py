"""The script fallback: the rl module's commands decided by Lua, for servers that cannot load the
module (managed Redis and Valkey): RL.HIT, RL.PEEK and RL.MHIT (every algorithm, LOG included)
and the concurrency leases RL.ACQUIRE, RL.RELEASE and RL.RENEW.

The decision code is one Lua file, ``lua/rl.lua``; this module assembles it into the two forms a
server can run and calls them:

- ``"script"``: a script run with EVALSHA (Redis 6 and later, every managed service). The first
  argument names the command; the keys are declared, so cluster routing sees them.
- ``"function"``: a function library loaded with FUNCTION LOAD and called with FCALL (Redis 7
  and later, Valkey), RL.PEEK with FCALL_RO so that it runs on replicas. Functions survive
  restarts and failovers with the data set. RL.RELEASE and RL.RENEW are flagged ``allow-oom``,
  as the module's commands are not ``deny-oom``: a holder can give back or keep its lease when
  the server is full.

The replies and error texts are the module's (see the header of ``lua/rl.lua`` for the key
layout and the few differences). The script and the library are named after a hash of the Lua
source, so that a release with other Lua loads its own next to an older one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Union

import redis.asyncio.cluster
import redis.cluster
from redis.exceptions import NoScriptError, ResponseError

if TYPE_CHECKING:
    from redis.typing import EncodableT, KeyT

Mode = Literal["script", "function"]

COMMANDS = ("RL.HIT", "RL.PEEK", "RL.MHIT", "RL.ACQUIRE", "RL.RELEASE", "RL.RENEW")
#: The functions' flags (FUNCTION LOAD), as the module's commands are flagged.
FLAGS = {"RL.PEEK": "no-writes", "RL.RELEASE": "allow-oom", "RL.RENEW": "allow-oom"}

Reply = Any
"""The module's reply: five integers (RL.HIT, RL.PEEK), six (RL.MHIT), five integers and the
lease id, bytes or None when denied (RL.ACQUIRE), or one integer (RL.RELEASE, RL.RENEW)."""


def _core() -> str:
    return resources.files("redis_rl").joinpath("lua/rl.lua").read_text(encoding="utf-8")


class Assembly(NamedTuple):
    """The two forms of one Lua source (the benchmark also assembles an older ``rl.lua``)."""

    version: str
    script: str
    script_sha: str
    library_name: str
    functions: dict[str, str]
    library: str


def _registration(command: str, function: str) -> str:
    flags = f', flags = {{ "{FLAGS[command]}" }}' if command in FLAGS else ""
    return (
        f'redis.register_function{{ function_name = "{function}", '
        "callback = function(keys, args) run = run or build(); "
        f'return run("{command}", keys, args, 1) end{flags} }}\n'
    )


def assemble(core: str) -> Assembly:
    """The script and the function library of the decision code ``core``."""
    # Identifies the Lua source: part of the library's and the functions' names.
    version = hashlib.sha1(core.encode()).hexdigest()[:12]
    # The script for EVALSHA: ARGV[1] is the command, ARGV[2..] its arguments after the keys.
    script = core + "\nreturn run(ARGV[1], KEYS, ARGV, 2)\n"
    functions = {command: f"rl_{command[3:].lower()}_{version}" for command in COMMANDS}
    # The function library for FUNCTION LOAD. While it loads, only the registration API is
    # visible (no math, string or tonumber), so the decision code is built on the first call.
    library = (
        f"#!lua name=rl_{version}\n"
        + "local run\n"
        + "local function build()\n"
        + core
        + "\nreturn run\nend\n"
        + "".join(_registration(command, functions[command]) for command in COMMANDS)
    )
    script_sha = hashlib.sha1(script.encode()).hexdigest()
    return Assembly(version, script, script_sha, f"rl_{version}", functions, library)


CORE = _core()
_ASSEMBLY = assemble(CORE)
VERSION = _ASSEMBLY.version
SCRIPT = _ASSEMBLY.script
SCRIPT_SHA = _ASSEMBLY.script_sha
LIBRARY_NAME = _ASSEMBLY.library_name
FUNCTIONS = _ASSEMBLY.functions
LIBRARY = _ASSEMBLY.library


def _command(command: str) -> str:
    name = command.upper()
    if name not in COMMANDS:
        raise ValueError(f"command must be one of {', '.join(COMMANDS)}, not {command!r}")
    return name


def _check_mode(mode: str) -> None:
    if mode not in ("script", "function"):
        raise ValueError(f"mode must be 'script' or 'function', not {mode!r}")


def _function_missing(error: ResponseError) -> bool:
    return "function not found" in str(error).lower()


def _reply(name: str, reply: Any) -> Reply:
    """The reply as the module's: Lua has no nil inside an array, so RL.ACQUIRE's id is a false
    when denied, which the server sends as a nil (RESP2) but might send as a boolean (RESP3)."""
    if name in ("RL.RELEASE", "RL.RENEW"):
        return int(reply)
    if name == "RL.ACQUIRE":
        *fields, id = reply
        return [*(int(x) for x in fields), id if id else None]
    return [int(x) for x in reply]


CLUSTERS = (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)


def _fcall(name: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> tuple[Any, ...]:
    """The FCALL of a command; RL.PEEK's is FCALL_RO, so that it also runs on replicas."""
    fcall = "FCALL_RO" if name == "RL.PEEK" else "FCALL"
    return (fcall, FUNCTIONS[name], len(keys), *keys, *args)


def _target(client: Any, keys: Sequence[KeyT]) -> dict[str, Any]:
    """On a cluster, the node of the first key (RL.MHIT's keys share a slot). redis-py cannot
    tell where FCALL's keys are and would ask the server (COMMAND GETKEYS) before every call;
    a MOVED reply still redirects the call."""
    if keys and isinstance(client, CLUSTERS):
        # Any key type will do (redis-py annotates str only).
        cluster: Any = client
        return {"target_nodes": cluster.get_node_from_key(keys[0])}
    return {}


SyncClient = Union["redis.Redis", "redis.cluster.RedisCluster"]
AsyncClient = Union["redis.asyncio.Redis", "redis.asyncio.cluster.RedisCluster"]


class ScriptLibrary:
    """Runs the rl commands as a script (EVALSHA) or a function (FCALL) on a redis-py client.

    The script or library is loaded on first use, and again whenever the server says it is
    missing (script cache flushed, restart, failover to a node that never had it).
    """

    def __init__(self, client: SyncClient, mode: Mode = "script") -> None:
        _check_mode(mode)
        self.client = client
        self.mode: Mode = mode

    def call(self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Reply:
        """``command`` (one of ``COMMANDS``: "RL.HIT", "RL.PEEK", "RL.MHIT", "RL.ACQUIRE",
        "RL.RELEASE" or "RL.RENEW") on ``keys`` with ``args`` (what follows the keys in the
        module's command; RL.MHIT's numkeys is ``len(keys)``). Returns the module's reply (see
        ``Reply``); raises ``redis.ResponseError`` with the module's error text."""
        name = _command(command)
        client: Any = self.client
        if self.mode == "script":
            try:
                reply = client.evalsha(SCRIPT_SHA, len(keys), *keys, name, *args)
            except NoScriptError:
                reply = client.eval(SCRIPT, len(keys), *keys, name, *args)
            return _reply(name, reply)
        fcall = _fcall(name, keys, args)
        target = _target(client, keys)
        try:
            reply = client.execute_command(*fcall, **target)
        except ResponseError as error:
            if not _function_missing(error):
                raise
            client.function_load(LIBRARY, replace=True)
            reply = client.execute_command(*fcall, **target)
        return _reply(name, reply)


class AsyncScriptLibrary:
    """ScriptLibrary over a ``redis.asyncio`` client."""

    def __init__(self, client: AsyncClient, mode: Mode = "script") -> None:
        _check_mode(mode)
        self.client = client
        self.mode: Mode = mode

    async def call(self, command: str, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> Reply:
        """See ScriptLibrary.call."""
        name = _command(command)
        client: Any = self.client
        if self.mode == "script":
            try:
                reply = await client.evalsha(SCRIPT_SHA, len(keys), *keys, name, *args)
            except NoScriptError:
                reply = await client.eval(SCRIPT, len(keys), *keys, name, *args)
            return _reply(name, reply)
        fcall = _fcall(name, keys, args)
        if keys and isinstance(client, redis.asyncio.cluster.RedisCluster):
            # It learns where the slots are on its first command.
            await client.initialize()
        target = _target(client, keys)
        try:
            reply = await client.execute_command(*fcall, **target)
        except ResponseError as error:
            if not _function_missing(error):
                raise
            await client.function_load(LIBRARY, replace=True)
            reply = await client.execute_command(*fcall, **target)
        return _reply(name, reply)
