"""Limits kept in configuration rather than in code: a mapping, the environment or a file.

    default: "100/minute"                 # for routes that declare no limit of their own
    limits:                               # named limits, used by name: limit("search")
      search: "10/second;1000/day"
    plans:                                # tiers: the request's plan picks one
      free: "100/hour"
      pro: "5000/hour"
    default_plan: free                    # for a request whose plan is unknown or None

Every rate is parsed when the configuration is read: a bad one is a ValueError naming it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .rates import Rate, parse_rates

__all__ = ["LimitsConfig"]

_SECTIONS = ("default", "limits", "plans", "default_plan")


def _rates(value: Any, where: str) -> tuple[Rate, ...]:
    if not isinstance(value, (str, list, tuple)):
        raise ValueError(f"{where} must be a rate string such as '10/minute', not {value!r}")
    try:
        return parse_rates(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _table(value: Any, where: str) -> dict[str, tuple[Rate, ...]]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping of names to rate strings, not {value!r}")
    table = {}
    for name, rates in value.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: names must be non-empty strings, not {name!r}")
        table[name] = _rates(rates, f"{where}.{name}")
    return table


@dataclass(frozen=True)
class LimitsConfig:
    """Parsed limits: `default`, named `limits`, `plans` and the `default_plan`."""

    default: tuple[Rate, ...] = ()
    limits: Mapping[str, tuple[Rate, ...]] = field(default_factory=dict)
    plans: Mapping[str, tuple[Rate, ...]] = field(default_factory=dict)
    default_plan: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))
        object.__setattr__(self, "plans", MappingProxyType(dict(self.plans)))
        if self.default_plan is not None and self.default_plan not in self.plans:
            raise ValueError(
                f"default_plan {self.default_plan!r} is not one of the plans "
                f"({', '.join(self.plans) or 'none defined'})"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> LimitsConfig:
        """From a mapping with the sections `default`, `limits`, `plans`, `default_plan`."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"limits configuration must be a mapping, not {mapping!r}")
        unknown = [key for key in mapping if key not in _SECTIONS]
        if unknown:
            raise ValueError(
                f"unknown limits configuration key(s) {', '.join(map(repr, unknown))}: "
                f"expected {', '.join(_SECTIONS)}"
            )
        default_plan = mapping.get("default_plan")
        if default_plan is not None and not isinstance(default_plan, str):
            raise ValueError(f"default_plan must be a plan name, not {default_plan!r}")
        return cls(
            default=_rates(mapping["default"], "default") if mapping.get("default") else (),
            limits=_table(mapping.get("limits") or {}, "limits"),
            plans=_table(mapping.get("plans") or {}, "plans"),
            default_plan=default_plan,
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, prefix: str = "RL_"
    ) -> LimitsConfig:
        """From environment variables:

        RL_DEFAULT_LIMITS="100/minute"   the default
        RL_LIMIT_SEARCH="10/second"      the named limit "search"
        RL_PLAN_PRO="5000/hour"          the plan "pro"
        RL_DEFAULT_PLAN=free             the default plan
        RL_LIMITS_FILE=/etc/limits.toml  a file read first; the variables above override it

        Names are lower-cased.
        """
        env = os.environ if environ is None else environ
        base = cls()
        if env.get(f"{prefix}LIMITS_FILE"):
            base = cls.from_file(env[f"{prefix}LIMITS_FILE"])
        limits = dict(base.limits)
        plans = dict(base.plans)
        default = base.default
        default_plan = base.default_plan
        for name, value in env.items():
            if name == f"{prefix}DEFAULT_LIMITS":
                default = _rates(value, name)
            elif name == f"{prefix}DEFAULT_PLAN":
                default_plan = value.strip() or None
            elif name.startswith(f"{prefix}LIMIT_") and len(name) > len(prefix) + 6:
                limits[name[len(prefix) + 6 :].lower()] = _rates(value, name)
            elif name.startswith(f"{prefix}PLAN_") and len(name) > len(prefix) + 5:
                plans[name[len(prefix) + 5 :].lower()] = _rates(value, name)
        return cls(default, limits, plans, default_plan)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LimitsConfig:
        """From a JSON, TOML (Python 3.11+) or YAML (with PyYAML installed) file, chosen by
        its extension; the content has the shape of `from_mapping`."""
        file = Path(path)
        text = file.read_text(encoding="utf-8")
        suffix = file.suffix.lower()
        data: Any
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib

                data = tomllib.loads(text)
            else:
                raise ValueError(f"{file}: reading TOML needs Python 3.11 or later")
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ModuleNotFoundError:
                raise ValueError(
                    f"{file}: reading YAML needs PyYAML (pip install pyyaml)"
                ) from None
            data = yaml.safe_load(text)
        else:
            raise ValueError(f"{file}: expected a .json, .toml, .yaml or .yml file")
        try:
            return cls.from_mapping(data if data is not None else {})
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from None

    @classmethod
    def load(
        cls, source: LimitsConfig | Mapping[str, Any] | str | os.PathLike[str] | None
    ) -> LimitsConfig:
        """A LimitsConfig from what a user may pass: one, a mapping, a file path, or None."""
        if source is None:
            return cls()
        if isinstance(source, LimitsConfig):
            return source
        if isinstance(source, Mapping):
            return cls.from_mapping(source)
        return cls.from_file(source)

    def plan(self, name: str | None) -> tuple[str, tuple[Rate, ...]]:
        """The plan called `name`, or the default plan when `name` is None or unknown."""
        if name is not None and name in self.plans:
            return name, self.plans[name]
        if self.default_plan is not None:
            return self.default_plan, self.plans[self.default_plan]
        known = ", ".join(self.plans) or "none defined"
        raise ValueError(f"no plan {name!r} in the limits configuration (plans: {known})")
