"""The shape every reply of the module must have, whatever the input: a decision within its
bounds, or an error of a documented class.
"""

from __future__ import annotations

from argmodel import LeaseRequest, Limit
from resp import Error

MAX_REPLY = (1 << 63) - 1
# The longest lease, in ms: no lease, and so no key of leases, lasts longer.
MAX_LEASE_MS = 36_500 * 86_400_000
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
        # The reply is the deciding (denying) clause's own: it has less left than the cost.
        if not never and remaining >= limit.cost:
            return f"denied by a clause with remaining={remaining} >= cost {limit.cost}"
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


def is_made_id(value: bytes) -> bool:
    """An id the server makes: 16 lowercase hex digits."""
    return len(value) == 16 and all(c in b"0123456789abcdef" for c in value)


def acquire_problem(reply: object, request: LeaseRequest | None) -> str | None:
    """RL.ACQUIRE: [allowed, limit, remaining, retry_after_ms, reset_after_ms, id]; the id is
    a bulk string when granted (the one asked for, or one the server made), nil when not."""
    if not isinstance(reply, list) or len(reply) != 6:
        return f"expected five integers and an id, got {reply!r:.200}"
    fields = ints(reply[:5], 5)
    if isinstance(fields, str):
        return fields
    allowed, cap, remaining, retry, reset = fields
    lease_id = reply[5]
    if allowed not in (0, 1):
        return f"allowed={allowed}"
    if not 1 <= cap <= MAX_REPLY or not 0 <= remaining <= cap:
        return f"limit={cap} remaining={remaining}"
    if retry < -1 or not 0 <= reset <= MAX_LEASE_MS:
        return f"retry_after={retry} reset_after={reset}"
    if allowed:
        if retry != 0:
            return f"granted with retry_after={retry}"
        if not isinstance(lease_id, bytes):
            return f"granted without a lease id: {lease_id!r}"
        if reset < 1:
            return f"granted a lease whose key expires now (reset_after={reset})"
    else:
        if lease_id is not None and lease_id is not False:
            return f"denied, yet with a lease id {lease_id!r}"
        if retry > reset:
            return f"denied with retry_after={retry} past the last expiry ({reset})"
    if request is None:
        return None
    if cap != request.limit:
        return f"limit field {cap}, the request's limit is {request.limit}"
    if allowed:
        if remaining > cap - request.cost:
            return f"granted cost {request.cost} of {cap} yet remaining={remaining}"
        if reset < request.lease_us // 1000:
            return f"granted a lease of {request.lease_us // 1000} ms yet reset_after={reset}"
        if request.id is not None and lease_id != request.id:
            return f"granted under id {lease_id!r:.80}, asked for {request.id!r:.80}"
        if request.id is None and isinstance(lease_id, bytes) and not is_made_id(lease_id):
            return f"the server made the id {lease_id!r:.80}, not 16 lowercase hex digits"
    else:
        never = request.cost > request.limit
        if never and retry != -1:
            return f"cost {request.cost} > limit {cap} but retry_after={retry}, not -1"
        if not never and retry < 1:
            return f"denied with retry_after={retry} although cost {request.cost} fits {cap}"
    return None


def held_problem(reply: object) -> str | None:
    """RL.RELEASE and RL.RENEW: 1 if the lease was held, 0 if not."""
    if reply in (0, 1) and not isinstance(reply, bool):
        return None
    return f"expected 0 or 1, got {reply!r:.120}"
