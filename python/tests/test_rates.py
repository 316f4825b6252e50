"""The rate grammar: the `limits` library's notation, validated when declared."""

from __future__ import annotations

import pytest

from redis_rl import Limit, LimitsConfig, Rate, parse_rates
from redis_rl.limits import resolve_limits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/second", [(10, 1)]),
        ("5 per minute", [(5, 60)]),
        ("100/5 minutes", [(100, 300)]),
        ("100 per 5 minutes", [(100, 300)]),
        ("10/hour", [(10, 3600)]),
        ("1/day", [(1, 86400)]),
        ("2/month", [(2, 30 * 86400)]),
        ("3/year", [(3, 360 * 86400)]),
        ("10 / Second", [(10, 1)]),
        ("10 PER MINUTES", [(10, 60)]),
        ("10perminute", [(10, 60)]),
        ("500/7days", [(500, 7 * 86400)]),
        ("10/second;1000/day", [(10, 1), (1000, 86400)]),
        ("10/second, 1000/day", [(10, 1), (1000, 86400)]),
        ("10/second | 1000/day | 2000 per year", [(10, 1), (1000, 86400), (2000, 360 * 86400)]),
        ("  10/hour ;100/day ", [(10, 3600), (100, 86400)]),
        ("1/100 years", [(1, 100 * 360 * 86400)]),
        ("9223372036854775807/second", [(2**63 - 1, 1)]),
    ],
)
def test_accepts_the_limits_notation(text: str, expected: list[tuple[int, int]]) -> None:
    assert [(r.limit, r.seconds) for r in parse_rates(text)] == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("10/minut", ["'10/minut'", "unknown time unit 'minut'"]),
        ("10/second;100/dya", ["'100/dya' of '10/second;100/dya'", "'dya'"]),
        ("10 minute", ["'10 minute'", "expected"]),
        ("ten/minute", ["'ten/minute'"]),
        ("10/-5 minutes", ["'10/-5 minutes'"]),
        ("1.5/second", ["'1.5/second'"]),
        ("0/second", ["'0/second'", "count must be from 1"]),
        ("10/0 seconds", ["'10/0 seconds'", "window multiple must be from 1"]),
        ("9223372036854775808/second", ["count must be from 1 to 9223372036854775807"]),
        ("1/102 years", ["'1/102 years'", "longer than 36500 days"]),
        ("10/second;", ["empty rate limit in '10/second;'"]),
        ("", ["empty rate limit"]),
        ("10/ms", ["unknown time unit 'ms'"]),
        ("\u0661\u0660/minute", ["invalid rate limit", "expected"]),  # Arabic-Indic 10
        ("10/\u0665 minutes", ["invalid rate limit"]),  # Arabic-Indic 5
        ("10/\uff15 minutes", ["invalid rate limit"]),  # fullwidth 5
        ("10\u2003/minute", ["invalid rate limit"]),  # an em space
    ],
)
def test_refuses_with_the_bad_part_named(text: str, names: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        parse_rates(text)
    for part in names:
        assert part in str(error.value)


def test_lists_and_rate_objects() -> None:
    rates = parse_rates(["10/second", Rate(5, 2, "hour"), "1/day;2/day"])
    assert [(r.limit, r.seconds) for r in rates] == [(10, 1), (5, 7200), (1, 86400), (2, 86400)]
    with pytest.raises(ValueError, match="no rate limit given"):
        parse_rates([])
    with pytest.raises(ValueError, match="not 10"):
        parse_rates([10])  # type: ignore[list-item]


def test_names_and_text() -> None:
    minute, five = parse_rates("10/minute;100/5 minutes")
    assert (minute.name, str(minute)) == ("per-minute", "10 per minute")
    assert (five.name, str(five)) == ("per-5-minutes", "100 per 5 minutes")
    assert five.window_ms == 300_000
    with pytest.raises(ValueError, match="unknown time unit 'week'"):
        Rate(1, 1, "week")
    with pytest.raises(ValueError, match="count must be a whole number"):
        Rate(True, 1, "second")


@pytest.mark.parametrize("value", [10, None, 1.5, b"10/minute"])
def test_what_is_not_rates_is_named(value: object) -> None:
    with pytest.raises(ValueError, match="rate limits must be"):
        parse_rates(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate limits must be"):
        Limit.parse(value)  # type: ignore[arg-type]


def test_declarations_that_are_not_limits_are_named() -> None:
    from redis_rl.flask import FlaskRateLimiter

    for value in (10, 1.5, b"10/minute"):
        with pytest.raises(ValueError, match=f"limits must be rate strings .*, not {value!r}"):
            FlaskRateLimiter().limit(value)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=f"limits must be rate strings .*, not {value!r}"):
            resolve_limits(value, LimitsConfig())  # type: ignore[arg-type]
