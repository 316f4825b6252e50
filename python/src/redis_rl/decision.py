"""The module's reply as a typed value: RL.HIT, RL.PEEK and RL.MHIT answer the same five
integers (MHIT adds a sixth) in RESP2 and RESP3; CL.THROTTLE answers redis-cell's five;
RL.ACQUIRE answers the five and a lease id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Acquired", "Decision"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One rate-limit decision, as the server made it.

    `retry_after_ms` is 0 when allowed, the wait until the same request would be admitted
    when denied, and None when it can never be admitted (its cost exceeds the capacity).
    `reset_after_ms` is the time until the limit is back to full capacity. `position` is,
    for RL.MHIT, the 1-based index of the limit that decided.
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int | None
    reset_after_ms: int
    position: int | None = None

    @property
    def retry_after(self) -> float | None:
        """Seconds until the same request would be admitted; None for never."""
        return None if self.retry_after_ms is None else self.retry_after_ms / 1000

    @property
    def reset_after(self) -> float:
        """Seconds until the limit is back to full capacity."""
        return self.reset_after_ms / 1000

    @classmethod
    def from_reply(cls, reply: Any, command: str = "RL.HIT") -> Decision:
        """Reads `[allowed, limit, remaining, retry_after_ms, reset_after_ms(, position)]`."""
        fields = _integers(reply, 6 if command.upper() == "RL.MHIT" else 5, command)
        allowed, limit, remaining, retry_after_ms, reset_after_ms = fields[:5]
        return cls(
            allowed=allowed == 1,
            limit=limit,
            remaining=remaining,
            retry_after_ms=None if retry_after_ms < 0 else retry_after_ms,
            reset_after_ms=reset_after_ms,
            position=fields[5] if len(fields) == 6 else None,
        )

    @classmethod
    def from_throttle_reply(cls, reply: Any) -> Decision:
        """Reads CL.THROTTLE's `[limited, limit, remaining, retry_after_s, reset_after_s]`.

        Its times are whole seconds; retry_after is -1 both when allowed and when the
        quantity can never fit, told apart here by `limited`.
        """
        limited, limit, remaining, retry_after_s, reset_after_s = _integers(reply, 5, "CL.THROTTLE")
        allowed = limited == 0
        if allowed:
            retry_after_ms: int | None = 0
        elif retry_after_s < 0:
            retry_after_ms = None
        else:
            retry_after_ms = retry_after_s * 1000
        return cls(allowed, limit, remaining, retry_after_ms, reset_after_s * 1000)


@dataclass(frozen=True, slots=True)
class Acquired:
    """RL.ACQUIRE's answer: whether a lease was granted, and its id.

    `limit` is the most units held at once; `remaining` the units free now, after this request;
    `retry_after_ms` 0 when granted, when denied the wait until enough leases expire for the
    same request to fit (a release frees units sooner), and None when it can never fit (its
    cost exceeds the limit); `reset_after_ms` the time until the last lease expires. `id` is the
    lease's id (None when denied): the one given, or one the server made (16 hex digits).
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int | None
    reset_after_ms: int
    id: str | None

    @property
    def retry_after(self) -> float | None:
        """Seconds until the same request would be granted; None for never."""
        return None if self.retry_after_ms is None else self.retry_after_ms / 1000

    @property
    def reset_after(self) -> float:
        """Seconds until the last lease expires."""
        return self.reset_after_ms / 1000

    @classmethod
    def from_reply(cls, reply: Any) -> Acquired:
        """Reads `[allowed, limit, remaining, retry_after_ms, reset_after_ms, id]`. The id is
        text: the bytes the server holds, decoded as UTF-8 with any other byte kept as a
        surrogate, so that `lease_id_argument` gives the same bytes back."""
        if (
            not isinstance(reply, Sequence)
            or isinstance(reply, (str, bytes))
            or len(reply) != 6
            or not isinstance(reply[5], (bytes, str, type(None)))
        ):
            raise ValueError(f"unexpected reply to RL.ACQUIRE: {reply!r} (expected 6 elements)")
        decision = Decision.from_reply(list(reply[:5]), "RL.ACQUIRE")
        raw = reply[5]
        lease_id = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        if decision.allowed != (lease_id is not None):
            raise ValueError(f"unexpected reply to RL.ACQUIRE: {reply!r} (id and allowed disagree)")
        return cls(
            decision.allowed,
            decision.limit,
            decision.remaining,
            decision.retry_after_ms,
            decision.reset_after_ms,
            lease_id,
        )


def _integers(reply: Any, count: int, command: str) -> list[int]:
    if (
        not isinstance(reply, Sequence)
        or isinstance(reply, (str, bytes))
        or len(reply) != count
        or not all(isinstance(item, int) and not isinstance(item, bool) for item in reply)
    ):
        raise ValueError(f"unexpected reply to {command}: {reply!r} (expected {count} integers)")
    return list(reply)
