"""Rate strings in the notation of the `limits` library (the one Flask-Limiter users write).

Grammar, case-insensitive, spaces allowed anywhere between the parts:

    rates := rate (separator rate)*          separator: "," or ";" or "|"
    rate  := count ("/" | "per") [n] unit    count, n: whole numbers, at least 1
    unit  := second | minute | hour | day | month | year, optionally plural

so "10/second", "5 per minute", "100/5 minutes", "10/second;1000/day". As in `limits`, a
month is 30 days and a year 360 days. A window may not exceed the module's 36500 days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MAX_COUNT", "MAX_WINDOW_SECONDS", "Rate", "parse_rates"]

UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 30 * 86400,
    "year": 360 * 86400,
}
MAX_COUNT = 2**63 - 1
MAX_WINDOW_SECONDS = 36500 * 86400

_SEPARATORS = re.compile(r"[,;|]")
# ASCII only: "\d" and "\s" would take the digits and spaces of other scripts (Arabic-Indic
# digits would make a count).
_RATE = re.compile(
    r"\s*(?P<count>[0-9]+)\s*(?:/|per)\s*(?P<multiples>[0-9]+)?\s*(?P<unit>[a-z]+)\s*",
    re.IGNORECASE | re.ASCII,
)
_EXPECTED = (
    "expected '<count>/<unit>' or '<count> per <n> <units>' with a unit of second, minute, "
    "hour, day, month or year, such as '10/second' or '100 per 5 minutes'"
)


@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` units per `multiples` times `unit`: one limit of a rate string."""

    limit: int
    multiples: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNIT_SECONDS:
            raise ValueError(f"unknown time unit {self.unit!r}: {_EXPECTED}")
        _check_whole("count", self.limit, MAX_COUNT)
        _check_whole("window multiple", self.multiples, MAX_WINDOW_SECONDS)
        if self.seconds > MAX_WINDOW_SECONDS:
            raise ValueError(f"the window of {self} is longer than 36500 days, the most allowed")

    @property
    def seconds(self) -> int:
        """The window in seconds."""
        return self.multiples * UNIT_SECONDS[self.unit]

    @property
    def window_ms(self) -> int:
        return self.seconds * 1000

    @property
    def name(self) -> str:
        """A policy name for headers: "per-minute", "per-5-minutes"."""
        if self.multiples == 1:
            return f"per-{self.unit}"
        return f"per-{self.multiples}-{self.unit}s"

    def __str__(self) -> str:
        if self.multiples == 1:
            return f"{self.limit} per {self.unit}"
        return f"{self.limit} per {self.multiples} {self.unit}s"


def _check_whole(what: str, value: int, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"the {what} must be a whole number, not {value!r}")
    if not 1 <= value <= most:
        raise ValueError(f"the {what} must be from 1 to {most}, not {value}")


def _parse_one(part: str, whole: str) -> Rate:
    match = _RATE.fullmatch(part)
    where = (
        f"{part.strip()!r}" if part.strip() == whole.strip() else f"{part.strip()!r} of {whole!r}"
    )
    if not part.strip():
        raise ValueError(f"empty rate limit in {whole!r}: {_EXPECTED}")
    if match is None:
        raise ValueError(f"invalid rate limit {where}: {_EXPECTED}")
    unit = match["unit"].lower()
    if unit not in UNIT_SECONDS and unit.endswith("s") and unit[:-1] in UNIT_SECONDS:
        unit = unit[:-1]
    if unit not in UNIT_SECONDS:
        raise ValueError(f"unknown time unit {match['unit']!r} in {where}: {_EXPECTED}")
    count = int(match["count"])
    multiples = int(match["multiples"]) if match["multiples"] is not None else 1
    try:
        return Rate(count, multiples, unit)
    except ValueError as error:
        raise ValueError(f"invalid rate limit {where}: {error}") from None


def parse_rates(rates: str | Rate | Iterable[str | Rate]) -> tuple[Rate, ...]:
    """Parses "10/second;1000/day" (or a list of such strings, or Rate objects) into rates.

    Raises ValueError naming the part that is not a rate. Never returns an empty tuple.
    """
    if isinstance(rates, Rate):
        return (rates,)
    if isinstance(rates, str):
        return tuple(_parse_one(part, rates) for part in _SEPARATORS.split(rates))
    if isinstance(rates, bytes):
        raise ValueError(f"rate limits must be text, not bytes: {rates!r}")
    if not isinstance(rates, Iterable):
        raise ValueError(
            f"rate limits must be a string such as '10/minute', a Rate or a list of them, "
            f"not {rates!r}"
        )
    parsed: list[Rate] = []
    for item in rates:
        if isinstance(item, (str, Rate)):
            parsed.extend(parse_rates(item))
        else:
            raise ValueError(f"rate limits must be strings such as '10/minute', not {item!r}")
    if not parsed:
        raise ValueError("no rate limit given: expected at least one, such as '10/minute'")
    return tuple(parsed)
