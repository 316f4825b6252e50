"""The shape every reply of the module must have, whatever the input: a decision within its
bounds, or an error of a documented class.
"""

from __future__ import annotations

from argmodel import Limit
from resp import Error

MAX_REPLY = (1 << 63) - 1
# Error classes a client may see from the module's commands: its own ERR, the server's
# WRONGTYPE, and what the server answers for ACLs, clusters, memory and aborted transactions.
ERROR_CLASSES = ("ERR", "WRONGTYPE", "NOPERM", "CROSSSLOT", "OOM", "EXECABORT", "TRYAGAIN")
INTERNAL_ERROR = "internal error in the rl module"


def error_problem(reply: Error) -> str | None:
    if INTERNAL_ERROR in reply.text:
        return f"the panic guard answered: {reply.text!r}"
    if reply.code not in ERROR_CLASSES:
        return f"error of an undocumented class: {reply.text!r}"
    return None


def ints(reply: object, n: int) -> list[int] | str:
    if not isinstance(reply, list) or len(reply) != n:
        return f"expected {n} integers, got {reply!r:.200}"
    ints = [x for x in reply if isinstance(x, int) and not isinstance(x, bool)]
    if len(ints) != n:
        return f"expected {n} integers, got {reply!r:.200}"
    return ints


def decision_problem(reply: object, limit: Limit | None, consuming: bool) -> str | None:
    """RL.HIT / RL.PEEK: [allowed, limit, remaining, retry_after_ms, reset_after_ms].
    `limit` is the request (None when it is not known); `consuming` for RL.HIT."""
    fields = ints(reply, 5)
    if isinstance(fields, str):
        return fields
    allowed, cap, remaining, retry, reset = fields
    if allowed not in (0, 1):
        return f"allowed={allowed}"
    if not 1 <= cap <= MAX_REPLY:
        return f"limit={cap}"
    if not 0 <= remaining <= cap:
        return f"remaining={remaining} outside [0, {cap}]"
    if retry < -1 or reset < 0:
        return f"retry_after={retry} reset_after={reset}"
    if allowed and retry != 0:
        return f"allowed with retry_after={retry}"
    if limit is None:
        return None
    if cap != limit.capacity:
        return f"limit field {cap}, the request's capacity is {limit.capacity}"
    if allowed and remaining > cap - limit.cost:
        return f"admitted cost {limit.cost} of {cap} yet remaining={remaining}"
    if not allowed:
        never = limit.cost > limit.capacity
        if never and retry != -1:
            return f"cost {limit.cost} > capacity {cap} but retry_after={retry}, not -1"
        if not never and retry < 1:
            return f"denied with retry_after={retry} although cost {limit.cost} fits {cap}"
    return None


def mhit_problem(reply: object, limits: list[Limit] | None) -> str | None:
    """RL.MHIT: the five fields, then the 1-based position of the deciding key."""
    fields = ints(reply, 6)
    if isinstance(fields, str):
        return fields
    deciding = fields[5]
    if limits is not None and not 1 <= deciding <= len(limits):
        return f"deciding position {deciding} outside 1..{len(limits)}"
    if limits is None:
        return decision_problem(fields[:5], None, True)
    limit = limits[deciding - 1]
    allowed, cap, remaining, retry, _ = fields[:5]
    base = decision_problem(fields[:5], None, True)
    if base:
        return base
    if cap != limit.capacity:
        return f"limit field {cap}, the deciding clause's capacity is {limit.capacity}"
    if allowed:
        smallest = min(lim.capacity for lim in limits) - limit.cost
        if remaining > smallest:
            return f"admitted yet remaining={remaining} > smallest capacity minus cost {smallest}"
    else:
        never = any(lim.cost > lim.capacity for lim in limits)
        if never and retry != -1:
            return f"a clause can never admit cost {limit.cost} but retry_after={retry}"
        if not never and retry < 1:
            return f"denied with retry_after={retry} although every clause can admit the cost"
    return None


def throttle_problem(reply: object, limit: Limit | None) -> str | None:
    """CL.THROTTLE: [limited, limit, remaining, retry_after_s, reset_after_s]."""
    fields = ints(reply, 5)
    if isinstance(fields, str):
        return fields
    limited, cap, remaining, retry, reset = fields
    if limited not in (0, 1):
        return f"limited={limited}"
    if not 1 <= cap <= MAX_REPLY or not 0 <= remaining <= cap:
        return f"limit={cap} remaining={remaining}"
    if retry < -1 or reset < 0:
        return f"retry_after={retry} reset_after={reset}"
    if not limited and retry != -1:
        return f"allowed with retry_after={retry}"
    if limit is None:
        return None
    if cap != limit.burst:
        return f"limit field {cap}, max_burst + 1 is {limit.burst}"
    if limited:
        never = limit.cost > limit.burst
        if never and retry != -1:
            return f"quantity {limit.cost} > {cap} but retry_after={retry}"
        if not never and retry < 1:
            return f"limited with retry_after={retry} although quantity {limit.cost} fits"
    return None
