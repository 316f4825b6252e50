"""Replies to Decision: the module's five (or six) integers, and CL.THROTTLE's."""

from __future__ import annotations

from typing import Any

import pytest

from redis_rl import Decision


def test_allowed_reply() -> None:
    decision = Decision.from_reply([1, 5, 4, 0, 108000])
    assert decision == Decision(True, 5, 4, 0, 108000, None)
    assert decision.allowed and decision.retry_after == 0 and decision.reset_after == 108.0


def test_denied_and_never() -> None:
    denied = Decision.from_reply([0, 5, 0, 59986, 107986])
    assert not denied.allowed and denied.retry_after_ms == 59986 and denied.retry_after == 59.986
    never = Decision.from_reply([0, 5, 0, -1, 107976])
    assert never.retry_after_ms is None and never.retry_after is None


def test_mhit_position() -> None:
    decision = Decision.from_reply([1, 2, 1, 0, 1500, 1], "RL.MHIT")
    assert decision.position == 1
    with pytest.raises(ValueError, match="expected 6 integers"):
        Decision.from_reply([1, 2, 1, 0, 1500], "RL.MHIT")


@pytest.mark.parametrize("reply", [None, b"OK", [1, 2, 3], [1, 2, 3, 4, b"5"], [True] * 5])
def test_malformed_replies(reply: Any) -> None:
    with pytest.raises(ValueError, match=r"unexpected reply to RL\.HIT"):
        Decision.from_reply(reply)


def test_throttle_reply() -> None:
    allowed = Decision.from_throttle_reply([0, 16, 15, -1, 2])
    assert allowed == Decision(True, 16, 15, 0, 2000)
    limited = Decision.from_throttle_reply([1, 16, 0, 3, 60])
    assert limited == Decision(False, 16, 0, 3000, 60000)
    never = Decision.from_throttle_reply([1, 16, 0, -1, 60])
    assert never.retry_after is None and not never.allowed


def test_frozen() -> None:
    decision = Decision.from_reply([1, 5, 4, 0, 1])
    with pytest.raises(AttributeError):
        decision.allowed = False  # type: ignore[misc]
