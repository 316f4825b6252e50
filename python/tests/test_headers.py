"""The HTTP fields and the problem body, from a result (no server needed)."""

from __future__ import annotations

import json

import pytest

from redis_rl import Decision, RateLimitResult, parse_rates
from redis_rl.headers import problem, rate_limit_headers, retry_after_header, sf_string
from redis_rl.result import Policy

MINUTE = Policy("per-minute", 10, 60, "api")
DAY = Policy("per-day", 1000, 86400, "api")
RATE = parse_rates("10/minute")[0]


def result(decision: Decision) -> RateLimitResult:
    return RateLimitResult(decision.allowed, (MINUTE, DAY), decision, MINUTE, RATE)


def test_ietf_fields_of_an_admitted_request() -> None:
    headers = rate_limit_headers(result(Decision(True, 10, 3, 0, 41001)), "ietf")
    assert headers == [
        ("RateLimit-Policy", '"per-minute";q=10;w=60, "per-day";q=1000;w=86400'),
        ("RateLimit", '"per-minute";r=3;t=42'),
    ]


@pytest.mark.parametrize(
    ("retry_ms", "t"), [(1, 1), (999, 1), (1000, 1), (1001, 2), (59_986, 60), (60_000, 60)]
)
def test_denied_t_and_retry_after_round_up_the_servers_ms(retry_ms: int, t: int) -> None:
    headers = dict(rate_limit_headers(result(Decision(False, 10, 0, retry_ms, 90_000)), "ietf"))
    assert headers["RateLimit"] == f'"per-minute";r=0;t={t}'
    assert headers["Retry-After"] == str(t)


def test_never_has_no_retry_after() -> None:
    denied = result(Decision(False, 10, 0, None, 90_500))
    headers = dict(rate_limit_headers(denied, "ietf"))
    assert "Retry-After" not in headers
    assert headers["RateLimit"] == '"per-minute";r=0;t=91'
    assert retry_after_header(denied) is None
    body = problem(denied)
    assert body["status"] == 429 and "can ever admit" in body["detail"]


def test_legacy_both_and_none() -> None:
    admitted = result(Decision(True, 10, 7, 0, 12_345))
    assert rate_limit_headers(admitted, "legacy") == [
        ("X-RateLimit-Limit", "10"),
        ("X-RateLimit-Remaining", "7"),
        ("X-RateLimit-Reset", "13"),
    ]
    both = [name for name, _ in rate_limit_headers(admitted, "both")]
    assert both == [
        "RateLimit-Policy",
        "RateLimit",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ]
    assert rate_limit_headers(admitted, "none") == []
    denied = result(Decision(False, 10, 0, 2500, 60_000))
    assert rate_limit_headers(denied, "none") == [("Retry-After", "3")]


def test_unavailable_results() -> None:
    allowed = RateLimitResult(True, (MINUTE,), error=ConnectionError("down"), unavailable_for=4.2)
    assert rate_limit_headers(allowed, "ietf") == [("RateLimit-Policy", '"per-minute";q=10;w=60')]
    denied = RateLimitResult(False, (MINUTE,), error=ConnectionError("down"), unavailable_for=4.2)
    assert dict(rate_limit_headers(denied, "ietf"))["Retry-After"] == "5"
    assert problem(denied)["status"] == 503


def test_problem_body() -> None:
    body = problem(result(Decision(False, 10, 0, 41_500, 60_000)))
    assert json.loads(json.dumps(body)) == {
        "type": "https://iana.org/assignments/http-problem-types#quota-exceeded",
        "title": "Quota exceeded",
        "status": 429,
        "detail": "The per-minute quota (10 per 60 s) is used up; retry in 42 s.",
        "violated-policies": ["per-minute"],
    }


def test_structured_field_strings() -> None:
    assert sf_string("per-minute") == '"per-minute"'
    assert sf_string('a"b\\c') == '"a\\"b\\\\c"'
    assert sf_string("café") == '"caf?"'
