"""Limits from configuration: a mapping, the environment, files; plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redis_rl import LimitsConfig, parse_rates
from redis_rl.limits import Limit, resolve_limits

MAPPING = {
    "default": "100/minute",
    "limits": {"search": "10/second;1000/day"},
    "plans": {"free": "100/hour", "pro": "5000/hour"},
    "default_plan": "free",
}


def test_from_mapping() -> None:
    config = LimitsConfig.from_mapping(MAPPING)
    assert config.default == parse_rates("100/minute")
    assert config.limits["search"] == parse_rates("10/second;1000/day")
    assert config.plan("pro") == ("pro", parse_rates("5000/hour"))
    assert config.plan("gold") == ("free", parse_rates("100/hour"))
    assert config.plan(None) == ("free", parse_rates("100/hour"))


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"plan": {}}, "unknown limits configuration key(s) 'plan'"),
        ({"plans": {"free": "100/hourz"}}, "plans.free: unknown time unit 'hourz'"),
        ({"limits": {"search": 10}}, "limits.search must be a rate string"),
        ({"limits": ["10/second"]}, "limits must be a mapping"),
        ({"plans": {"free": "1/hour"}, "default_plan": "gold"}, "default_plan 'gold'"),
        ({"default": "lots"}, "default: invalid rate limit 'lots'"),
    ],
)
def test_bad_configuration_names_the_part(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        LimitsConfig.from_mapping(mapping)
    assert message in str(error.value)


def test_unknown_plan_without_default() -> None:
    config = LimitsConfig.from_mapping({"plans": {"free": "1/hour"}})
    with pytest.raises(ValueError, match=r"no plan 'gold'.*plans: free"):
        config.plan("gold")


def test_from_env(tmp_path: Path) -> None:
    file = tmp_path / "limits.json"
    file.write_text(json.dumps({"plans": {"free": "1/hour"}, "limits": {"upload": "1/day"}}))
    config = LimitsConfig.from_env(
        {
            "RL_LIMITS_FILE": str(file),
            "RL_DEFAULT_LIMITS": "50/minute",
            "RL_LIMIT_SEARCH": "10/second",
            "RL_PLAN_PRO": "5000/hour",
            "RL_PLAN_FREE": "100/hour",
            "RL_DEFAULT_PLAN": "free",
            "OTHER": "1/second",
        }
    )
    assert config.default == parse_rates("50/minute")
    assert dict(config.limits) == {
        "upload": parse_rates("1/day"),
        "search": parse_rates("10/second"),
    }
    assert dict(config.plans) == {"free": parse_rates("100/hour"), "pro": parse_rates("5000/hour")}
    assert config.default_plan == "free"
    with pytest.raises(ValueError, match="RL_PLAN_PRO: invalid rate limit '5000'"):
        LimitsConfig.from_env({"RL_PLAN_PRO": "5000"})


def test_from_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(MAPPING))
    (tmp_path / "a.toml").write_text(
        'default = "100/minute"\ndefault_plan = "free"\n'
        '[limits]\nsearch = "10/second;1000/day"\n'
        '[plans]\nfree = "100/hour"\npro = "5000/hour"\n'
    )
    expected = LimitsConfig.from_mapping(MAPPING)
    assert LimitsConfig.from_file(tmp_path / "a.json") == expected
    assert LimitsConfig.from_file(tmp_path / "a.toml") == expected
    assert LimitsConfig.load(str(tmp_path / "a.json")) == expected
    (tmp_path / "bad.json").write_text(json.dumps({"plans": {"pro": "many/hour"}}))
    with pytest.raises(ValueError, match=r"bad\.json: plans\.pro: invalid rate limit 'many/hour'"):
        LimitsConfig.from_file(tmp_path / "bad.json")
    (tmp_path / "limits.ini").write_text("")
    with pytest.raises(ValueError, match=r"expected a \.json, \.toml, \.yaml or \.yml file"):
        LimitsConfig.from_file(tmp_path / "limits.ini")


def test_yaml_file(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    (tmp_path / "a.yaml").write_text(
        'default: "100/minute"\ndefault_plan: free\nlimits: {search: "10/second;1000/day"}\n'
        'plans: {free: "100/hour", pro: "5000/hour"}\n'
    )
    assert LimitsConfig.from_file(tmp_path / "a.yaml") == LimitsConfig.from_mapping(MAPPING)


def test_resolving_declarations() -> None:
    config = LimitsConfig.from_mapping(MAPPING)
    [named] = resolve_limits("search", config)
    assert named == Limit(parse_rates("10/second;1000/day"), "search")
    [literal] = resolve_limits("5/minute", config, scope="api")
    assert literal == Limit(parse_rates("5/minute"), "api")
    [default] = resolve_limits(None, config)
    assert default.rates == parse_rates("100/minute") and default.scope == "default"
    both = resolve_limits("5/minute", config, plan="pro", use_plan=True)
    assert [(limit.rates, limit.scope) for limit in both] == [
        (parse_rates("5/minute"), "default"),
        (parse_rates("5000/hour"), "plan"),
    ]
    with pytest.raises(ValueError, match=r"'serch' is neither a rate.*named limits: search"):
        resolve_limits("serch", config)
    with pytest.raises(ValueError, match="no limits given"):
        resolve_limits(None, LimitsConfig())
