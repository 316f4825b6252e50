"""The fallback's errors: for each error the module answers, one representative request sent to
the module and to the fallback (both forms), which must answer the same text and leave the keys
alone; what the module takes but the fallback must refuse (values above 2^53 - 1); and keys of
each kind refused by the other kinds' commands (WRONGTYPE)."""

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
    # ALGO LOG beyond rl.log-max-entries (its default): min(limit, window in ms) entries
    ("RL.HIT", ["k"], [20000, "1h", "ALGO", "LOG"]),
    ("RL.PEEK", ["k"], [2**62, "10001ms", "ALGO", "log", "COST", 2]),
    ("RL.MHIT", ["a", "b"], ["LIMIT", 5, 60, "LIMIT", 10001, "1d", "ALGO", "LOG"]),
    # ... after the checks of Params, clause by clause
    ("RL.MHIT", ["a", "b"], ["LIMIT", 10**6, "1h", "ALGO", "LOG", "LIMIT", 1, 0]),
    # RL.ACQUIRE
    ("RL.ACQUIRE", ["k"], [2]),
    ("RL.ACQUIRE", [], [2, "1s"]),
    *[("RL.ACQUIRE", ["k"], [limit, "1s"]) for limit in [0, "abc", 10001, 2**63, "05"]],
    *[("RL.ACQUIRE", ["k"], [2, lease]) for lease in [0, "1x", "36501d", "1.5s"]],
    ("RL.ACQUIRE", ["k"], [0, "1x"]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "COST", 0]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "COST"]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "cost", 1, "COST", 1]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "ID", ""]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "ID", "x" * 65]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "ID"]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "id", "a", "ID", "b"]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "ID", "a", "ID", ""]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "ALGO", "GCRA"]),
    ("RL.ACQUIRE", ["k"], [2, "1s", "ALGO"]),
    # RL.RELEASE, RL.RENEW
    ("RL.RELEASE", ["k"], []),
    ("RL.RELEASE", ["k"], ["a", "b"]),
    ("RL.RELEASE", ["k"], [""]),
    ("RL.RELEASE", ["k"], ["x" * 65]),
    ("RL.RENEW", ["k"], ["a"]),
    ("RL.RENEW", ["k"], ["a", "1s", "x"]),
    ("RL.RENEW", ["k"], ["", "1x"]),
    ("RL.RENEW", ["k"], ["a", "0"]),
    ("RL.RENEW", ["k"], ["a", "36501d"]),
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
    ("RL.HIT", ["k"], [2**62, "10s", "ALGO", "LOG"], script_bound("limit")),
    (
        "RL.MHIT",
        ["a", "b"],
        ["LIMIT", 5, 60, "ALGO", "LOG", "LIMIT", 2**53, "1h"],
        script_bound("limit"),
    ),
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


# A request of each command, on one key (RL.MHIT: a fresh key first, then the key).
REQUESTS: dict[str, list[Any]] = {
    "RL.HIT": [5, 60],
    "RL.PEEK": [5, 60],
    "RL.HIT LOG": [5, 60, "ALGO", "LOG"],
    "RL.PEEK LOG": [5, 60, "ALGO", "LOG"],
    "RL.MHIT": ["LIMIT", 5, 60, "LIMIT", 5, 60],
    "RL.MHIT LOG": ["LIMIT", 5, 60, "ALGO", "LOG", "LIMIT", 5, 60, "ALGO", "LOG"],
    "RL.ACQUIRE": [5, 60],
    "RL.RELEASE": ["a"],
    "RL.RENEW": ["a", 60],
}


def request(library: ScriptLibrary, name: str, key: str) -> Any:
    command = name.split()[0]
    keys = ["s:fresh", key] if command == "RL.MHIT" else [key]
    return library.call(command, keys, REQUESTS[name])


@pytest.mark.parametrize("name", REQUESTS)
def test_a_key_of_another_type_is_wrongtype_and_left_alone(
    client: redis.Redis, library: ScriptLibrary, name: str
) -> None:
    client.flushall()
    client.set("s:string", "hello")
    client.hset("s:hash", "a", "1")
    client.rpush("s:list", "a")
    # Keys the module wrote are of its own types: a rate limit, a log, leases.
    client.execute_command("RL.HIT", "s:module", 5, 60)
    client.execute_command("RL.HIT", "s:module-log", 5, 60, "ALGO", "LOG")
    client.execute_command("RL.ACQUIRE", "s:module-leases", 5, 60)
    # The script's own keys of the other kinds: a state (a string), a log (a list), leases (a
    # hash).
    command = name.split()[0]
    others: dict[str, list[Any]] = {"s:state": [5, 60], "s:log": [5, 60, "ALGO", "LOG"]}
    if command in ("RL.ACQUIRE", "RL.RELEASE", "RL.RENEW"):
        library.call("RL.HIT", ["s:state"], others["s:state"])
        library.call("RL.HIT", ["s:log"], others["s:log"])
        ours = ["s:state", "s:log"]
    else:
        library.call("RL.ACQUIRE", ["s:leases"], [5, 60])
        ours = ["s:leases"]
    before = {key: client.dump(key) for key in client.keys("s:*")}
    for key in ["s:string", "s:hash", "s:list", "s:module", "s:module-log", "s:module-leases"]:
        with pytest.raises(redis.ResponseError) as refused:
            request(library, name, key)
        assert str(refused.value) == WRONGTYPE, key
    for key in ours:
        with pytest.raises(redis.ResponseError) as refused:
            request(library, name, key)
        assert str(refused.value) == WRONGTYPE, key
    # Nothing changed; all or nothing: the first key of a refused RL.MHIT was not written.
    assert {key: client.dump(key) for key in client.keys("s:*")} == before
    assert client.exists("s:fresh") == 0


def test_the_modules_commands_refuse_the_scripts_keys(
    client: redis.Redis, library: ScriptLibrary
) -> None:
    client.flushall()
    library.call("RL.HIT", ["m:state"], [5, 60])
    library.call("RL.HIT", ["m:log"], [5, 60, "ALGO", "LOG"])
    library.call("RL.ACQUIRE", ["m:leases"], [5, 60])
    for key in ["m:state", "m:log", "m:leases"]:
        requests: list[tuple[str, list[Any]]] = [
            ("RL.HIT", [5, 60]),
            ("RL.HIT", [5, 60, "ALGO", "LOG"]),
            ("RL.ACQUIRE", [5, 60]),
            ("RL.RELEASE", ["a"]),
        ]
        for command, args in requests:
            with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
                client.execute_command(command, key, *args)


def test_a_value_of_the_scripts_type_but_not_its_layout_is_wrongtype(
    client: redis.Redis, library: ScriptLibrary
) -> None:
    """Lists and hashes that look like the script's keys but are not: refused, left alone. (A
    log's entries are checked as a decision reads them, the oldest always.)"""
    client.flushall()
    client.rpush("s:log", "L1 1000 1800000000000 1799999999500 1800000000000 2", "x", "500")
    client.rpush("s:log2", "L1 0 1 1 1 1", "0")
    client.hset("s:leases", mapping={"": "A1 1800000000000000", "a": "1800000001000000 0"})
    client.hset("s:leases2", mapping={"": "B1 1800000000000000", "a": "1800000001000000 1"})
    before = {key: client.dump(key) for key in client.keys("s:*")}
    for key in ["s:log", "s:log2"]:
        with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
            library.call("RL.HIT", [key], [5, "1s", "ALGO", "LOG"])
    for key in ["s:leases", "s:leases2"]:
        with pytest.raises(redis.ResponseError, match=r"^WRONGTYPE"):
            library.call("RL.ACQUIRE", [key], [5, "1s"])
    assert {key: client.dump(key) for key in client.keys("s:*")} == before


def test_unknown_commands_and_modes_are_refused(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="command must be one of"):
        ScriptLibrary(client).call("RL.SETSTATE", ["k"], [])
    with pytest.raises(ValueError, match="mode must be"):
        ScriptLibrary(client, "module")  # type: ignore[arg-type]
