"""The fallback's errors: for each error the module answers, one representative request sent to
the module and to the fallback (both forms), which must answer the same text and leave the keys
alone; and what the module takes but the fallback must refuse (values above 2^53 - 1, ALGO
LOG)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_rl.scripts import Mode, ScriptLibrary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "support"))
import servers

MAX = 2**63 - 1
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SCRIPT_MAX = 2**53 - 1


LOG = (
    "ALGO LOG needs the rl module: the script fallback decides SLIDING, FIXED, TOKEN, LEAKY "
    "and GCRA"
)


def script_bound(name: str) -> str:
    return (
        f"{name} must be an integer from 1 to {SCRIPT_MAX} with the script fallback "
        f"(the rl module takes up to {MAX})"
    )


# (command, keys, args): what follows the command name, split into keys and the rest.
ERRORS: list[tuple[str, list[str], list[Any]]] = [
    # arity
    ("RL.HIT", ["k"], []),
    ("RL.HIT", ["k"], [5]),
    ("RL.PEEK", ["k"], [5]),
    # limit, window
    *[("RL.HIT", ["k"], [limit, 60]) for limit in [0, -1, "abc", 2**64, "1e3", " 5", "05", ""]],
    ("RL.HIT", ["k"], [2**63, 60]),
    *[
        ("RL.HIT", ["k"], [5, window])
        for window in [0, -1, "10x", "ms", "1.5s", "36501d", "99999999999999999999d", "", "60 "]
    ],
    ("RL.PEEK", ["k"], [5, "0ms"]),
    ("RL.HIT", ["k"], [5, "05s"]),
    # COST
    ("RL.HIT", ["k"], [5, 60, "COST", 0]),
    ("RL.HIT", ["k"], [5, 60, "COST"]),
    ("RL.HIT", ["k"], [5, 60, "cost", 1, "COST", 2]),
    ("RL.HIT", ["k"], [5, 60, "COST", 1, "COST", "x"]),
    # ALGO
    ("RL.HIT", ["k"], [5, 60, "ALGO", "CELL"]),
    ("RL.HIT", ["k"], [5, 60, "ALGO"]),
    ("RL.HIT", ["k"], [5, 60, "ALGO", "gcra", "algo", "token"]),
    ("RL.HIT", ["k"], [5, 60, "ALGO", "LOG", "BURST", 2]),
    # BURST
    ("RL.HIT", ["k"], [5, 60, "ALGO", "GCRA", "BURST", 0]),
    ("RL.HIT", ["k"], [5, 60, "BURST", 5]),
    ("RL.HIT", ["k"], [5, 60, "ALGO", "FIXED", "BURST", 5]),
    ("RL.HIT", ["k"], [1, "36500d", "ALGO", "GCRA", "BURST", 2]),
    ("RL.HIT", ["k"], [5, 60, "ALGO", "GCRA", "BURST"]),
    ("RL.HIT", ["k"], [5, 60, "BURST", 5, "BURST", 5, "ALGO", "GCRA"]),
    # BURST too large, with values beyond 2^53 (exact big-number comparison)
    ("RL.HIT", ["k"], [2**62, "36500d", "ALGO", "GCRA", "BURST", MAX]),
    ("RL.HIT", ["k"], [2**62, "36500d", "ALGO", "GCRA", "BURST", 2**62 + 1]),
    # unknown options
    ("RL.HIT", ["k"], [5, 60, "FOO", 1]),
    ("RL.HIT", ["k"], [5, 60, "FOO"]),
    ("RL.PEEK", ["k"], [5, 60, "x" * 40 + "\x01\xff", 1]),
    # the module's error wins over the fallback's own bound
    ("RL.HIT", ["k"], [2**60, "60x"]),
    ("RL.HIT", ["k"], [2**60, 60, "BURST", 2]),
    # RL.MHIT
    ("RL.MHIT", [], ["LIMIT", 1, "1s"]),
    ("RL.MHIT", [], ["LIMIT", 1, "1s", "COST", 1]),
    ("RL.MHIT", ["a"], ["LIMIT", 1]),
    ("RL.MHIT", ["a"], []),
    ("RL.MHIT", [f"k{i}" for i in range(65)], ["LIMIT", 1, "1s"] * 65),
    ("RL.MHIT", ["a", "b"], ["LIMIT", 1, "1s"]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s"] * 65),
    ("RL.MHIT", ["a", "a"], ["LIMIT", 1, "1s", "LIMIT", 2, "1s"]),
    ("RL.MHIT", ["a"], ["ALGO", "GCRA", "LIMIT", 1, "1s"]),
    ("RL.MHIT", ["a"], ["BURST", 2, "LIMIT", 1, "1s"]),
    ("RL.MHIT", ["a"], ["LIMIT", 1]),
    ("RL.MHIT", ["a"], ["LIMIT"]),
    ("RL.MHIT", ["a"], ["LIMIT", 0, "1s"]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1x"]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s", "BAR", 1]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s", "ALGO", "FIXED", "BURST", 2]),
    ("RL.MHIT", ["a", "b"], ["LIMIT", 1, "1s", "LIMIT", 1, "36500d", "ALGO", "GCRA", "BURST", 2]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s", "COST", 0]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s", "COST", 1, "COST", 1]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s", "COST"]),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s", "ALGO", "SLIDING", "ALGO", "FIXED"]),
    # a module error in a later clause wins over the fallback's bound in an earlier one
    ("RL.MHIT", ["a", "b"], ["LIMIT", 2**60, "1s", "LIMIT", 1, "1s", "ALGO", "FIXED", "BURST", 1]),
]

# Requests the module takes, and the error the fallback answers instead.
BEYOND_SCRIPT: list[tuple[str, list[str], list[Any], str]] = [
    ("RL.HIT", ["k"], [2**53, 60], script_bound("limit")),
    ("RL.PEEK", ["k"], [MAX, "1ms"], script_bound("limit")),
    ("RL.HIT", ["k"], [2**62, "1ms", "ALGO", "GCRA", "BURST", 2**62], script_bound("limit")),
    ("RL.HIT", ["k"], [10**6, "1ms", "ALGO", "TOKEN", "BURST", 2**53], script_bound("BURST")),
    ("RL.HIT", ["k"], [5, 60, "COST", 2**53], script_bound("COST")),
    ("RL.MHIT", ["a", "b"], ["LIMIT", 1, "1s", "LIMIT", MAX, "1d"], script_bound("limit")),
    ("RL.MHIT", ["a"], ["LIMIT", 1, "1s", "COST", MAX], script_bound("COST")),
    ("RL.HIT", ["k"], [5, 60, "ALGO", "log"], LOG),
    ("RL.PEEK", ["k"], [5, 60, "ALGO", "LOG", "COST", 2], LOG),
    ("RL.MHIT", ["a", "b"], ["LIMIT", 5, 60, "LIMIT", 5, "1h", "ALGO", "LOG"], LOG),
]


@pytest.fixture(scope="module", params=servers.matrix(), ids=lambda kind: kind.id)
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    running = servers.start(request.param)
    try:
        yield running.client()
    finally:
        running.stop()


@pytest.fixture(params=["script", "function"])
def library(request: pytest.FixtureRequest, client: redis.Redis) -> ScriptLibrary:
    mode: Mode = request.param
    return ScriptLibrary(client, mode)


def module_reply(client: redis.Redis, command: str, keys: list[str], args: list[Any]) -> Any:
    numkeys = [len(keys)] if command == "RL.MHIT" else []
    try:
        return client.execute_command(command, *numkeys, *keys, *args)
    except redis.ResponseError as error:
        return f"error: {error}"


def script_reply(library: ScriptLibrary, command: str, keys: list[str], args: list[Any]) -> Any:
    try:
        return library.call(command, keys, args)
    except redis.ResponseError as error:
        return f"error: {error}"


@pytest.mark.parametrize(("command", "keys", "args"), ERRORS)
def test_same_error_as_the_module(
    client: redis.Redis, library: ScriptLibrary, command: str, keys: list[str], args: list[Any]
) -> None:
    module = module_reply(client, command, [f"m:{k}" for k in keys], args)
    script = script_reply(library, command, [f"s:{k}" for k in keys], args)
    assert isinstance(module, str), f"the module took {command} {keys} {args}: {module}"
    assert script == module
    assert client.keys("s:*") == []


@pytest.mark.parametrize(("command", "keys", "args", "error"), BEYOND_SCRIPT)
def test_what_only_the_module_decides_is_refused(
    client: redis.Redis,
    library: ScriptLibrary,
    command: str,
    keys: list[str],
    args: list[Any],
    error: str,
) -> None:
    module = module_reply(client, command, [f"m:{k}" for k in keys], args)
    assert isinstance(module, list), f"the module refused {command} {args}: {module}"
    with pytest.raises(redis.ResponseError) as refused:
        library.call(command, [f"s:{k}" for k in keys], args)
    assert str(refused.value) == error
    assert client.keys("s:*") == []


@pytest.mark.parametrize("command", ["RL.HIT", "RL.PEEK", "RL.MHIT"])
def test_a_key_of_another_type_is_wrongtype_and_left_alone(
    client: redis.Redis, library: ScriptLibrary, command: str
) -> None:
    client.flushall()
    client.set("s:string", "hello")
    client.hset("s:hash", "a", "1")
    # A key the module wrote is of its own type, and the other way round.
    client.execute_command("RL.HIT", "s:module", 5, 60)
    library.call("RL.HIT", ["m:script"], [5, 60])
    for key in ["s:string", "s:hash", "s:module"]:
        keys = [key] if command != "RL.MHIT" else ["s:fresh", key]
        args: list[Any] = [5, 60] if command != "RL.MHIT" else ["LIMIT", 5, 60, "LIMIT", 5, 60]
        with pytest.raises(redis.ResponseError) as refused:
            library.call(command, keys, args)
        assert str(refused.value) == WRONGTYPE
    with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
        client.execute_command(command.replace("RL.MHIT", "RL.HIT"), "m:script", 5, 60)
    assert client.get("s:string") == b"hello"
    assert client.hgetall("s:hash") == {b"a": b"1"}
    # All or nothing: the first key of the refused RL.MHIT was not written.
    assert client.exists("s:fresh") == 0


def test_unknown_commands_and_modes_are_refused(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="command must be one of"):
        ScriptLibrary(client).call("RL.SETSTATE", ["k"], [])
    with pytest.raises(ValueError, match="mode must be"):
        ScriptLibrary(client, "module")  # type: ignore[arg-type]
