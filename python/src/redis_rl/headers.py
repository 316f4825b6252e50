"""HTTP fields for a rate-limit result, shared by the Flask and ASGI integrations.

Per draft-ietf-httpapi-ratelimit-headers-10:

    RateLimit-Policy: "per-minute";q=10;w=60, "per-day";q=1000;w=86400
    RateLimit: "per-minute";r=3;t=42

`RateLimit` describes the limit that decided; `t` is the time until it admits this request
again when denied, otherwise until it is back to full capacity, in whole seconds rounded up
from the server's milliseconds (never from the application's clock). A denied request also
gets `Retry-After` (whole seconds, rounded up; absent when it can never be admitted) and an
`application/problem+json` body. The legacy style sends `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds from now, like `t`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Literal, get_args

from .result import RateLimitResult

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "HeaderStyle",
    "check_header_style",
    "denial_headers",
    "names_taken",
    "problem",
    "rate_limit_headers",
    "renamed_apart",
]

HeaderStyle = Literal["ietf", "legacy", "both", "none"]
PROBLEM_CONTENT_TYPE = "application/problem+json"
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"


def check_header_style(style: str) -> HeaderStyle:
    if style not in get_args(HeaderStyle):
        raise ValueError(f"headers must be one of ietf, legacy, both or none, not {style!r}")
    return style  # type: ignore[return-value]


def seconds_up(milliseconds: int) -> int:
    """Whole seconds, rounded up."""
    return -(-milliseconds // 1000)


def sf_string(text: str) -> str:
    """A Structured Field String: printable ASCII in quotes, with \\ and " escaped."""
    safe = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text)
    return '"' + safe.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reset_seconds(result: RateLimitResult) -> int | None:
    decision = result.decision
    if decision is None:
        return None
    if not decision.allowed and decision.retry_after_ms is not None:
        return seconds_up(decision.retry_after_ms)
    return seconds_up(decision.reset_after_ms)


def retry_after_header(result: RateLimitResult) -> int | None:
    """Retry-After for a refused request: None when it can never be admitted."""
    if result.allowed:
        return None
    if result.decision is None:
        return max(1, math.ceil(result.unavailable_for))
    if result.decision.retry_after_ms is None:
        return None
    return max(1, seconds_up(result.decision.retry_after_ms))


# The name of each item of a RateLimit-Policy or RateLimit value: a String at the start of
# the value or after a comma (inside a String, a comma or an escaped quote is no boundary).
_ITEM_NAME = re.compile(r'(?:^|,)\s*("(?:[^"\\]|\\.)*")')
_POLICY_FIELDS = ("ratelimit-policy", "ratelimit")


def names_taken(headers: Iterable[tuple[str, str]]) -> set[str]:
    """The policy names (as sent, quoted) that RateLimit-Policy and RateLimit fields among
    `headers` already use."""
    taken: set[str] = set()
    for name, value in headers:
        if name.lower() in _POLICY_FIELDS:
            taken.update(match[1] for match in _ITEM_NAME.finditer(value))
    return taken


def renamed_apart(result: RateLimitResult, taken: set[str]) -> RateLimitResult:
    """`result` with its policies renamed where their names are `taken` (by another layer's
    fields on the same response: a middleware over a route's limit), so that the fields of
    both are lists of distinct items: the scope in front ("app-per-minute"), then a number
    if that is taken too."""
    if not any(sf_string(p.name) in taken for p in result.policies):
        return result
    used = set(taken) | {sf_string(p.name) for p in result.policies}
    policies = []
    for policy in result.policies:
        if sf_string(policy.name) in taken:
            base = f"{policy.scope}-{policy.name}"
            name, number = base, 2
            while sf_string(name) in used:
                name, number = f"{base}-{number}", number + 1
            used.add(sf_string(name))
            policy = policy._replace(name=name)
        policies.append(policy)
    deciding = None
    if result.policy is not None:
        deciding = policies[result.policies.index(result.policy)]
    return replace(result, policies=tuple(policies), policy=deciding)


def rate_limit_headers(result: RateLimitResult, style: HeaderStyle) -> list[tuple[str, str]]:
    """The fields for any response of a limited request (Retry-After included when refused)."""
    headers: list[tuple[str, str]] = []
    decision = result.decision
    reset = _reset_seconds(result)
    if style in ("ietf", "both") and result.policies:
        headers.append(
            (
                "RateLimit-Policy",
                ", ".join(f"{sf_string(p.name)};q={p.quota};w={p.window}" for p in result.policies),
            )
        )
        if decision is not None and result.policy is not None:
            headers.append(
                ("RateLimit", f"{sf_string(result.policy.name)};r={decision.remaining};t={reset}")
            )
    if style in ("legacy", "both") and decision is not None:
        headers += [
            ("X-RateLimit-Limit", str(decision.limit)),
            ("X-RateLimit-Remaining", str(decision.remaining)),
            ("X-RateLimit-Reset", str(reset)),
        ]
    return headers + denial_headers(result)


def denial_headers(result: RateLimitResult) -> list[tuple[str, str]]:
    retry_after = retry_after_header(result)
    return [] if retry_after is None else [("Retry-After", str(retry_after))]


def status(result: RateLimitResult) -> int:
    """429 for a request over its quota, 503 for one refused because Redis failed."""
    return 503 if result.decision is None else 429


def problem(result: RateLimitResult) -> dict[str, Any]:
    """The application/problem+json body (RFC 9457) of a refused request."""
    if result.decision is None:
        return {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "The rate limiter cannot reach its store; retry later.",
        }
    decision = result.decision
    policy = result.policy
    rate = result.rate
    name = policy.name if policy is not None else "rate"
    quota = f"{rate.limit} per {rate.seconds} s" if rate is not None else str(decision.limit)
    if decision.retry_after_ms is None:
        detail = f"This request costs more than the {name} quota ({quota}) can ever admit."
    else:
        wait = max(1, seconds_up(decision.retry_after_ms))
        detail = f"The {name} quota ({quota}) is used up; retry in {wait} s."
    return {
        "type": QUOTA_EXCEEDED,
        "title": "Quota exceeded",
        "status": 429,
        "detail": detail,
        "violated-policies": [name],
    }


def problem_json(result: RateLimitResult) -> str:
    return json.dumps(problem(result))
