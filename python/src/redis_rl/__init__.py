"""Rate limiting on Redis with the `rl` module (or its Lua fallback where modules are not
allowed): typed commands (`RL`, `AsyncRL`), a framework-free limiter (`RateLimiter`,
`AsyncRateLimiter`) with concurrency leases (`limiter.lease(...)`), and integrations for Flask
(`redis_rl.flask`) and ASGI frameworks such as Starlette and FastAPI (`redis_rl.asgi`)."""

from .commands import RL, Algorithm, AsyncRL, BackendName, KeyLimit, LeaseId
from .config import LimitsConfig
from .decision import Acquired, Decision
from .failure import OnError, RateLimiterUnavailable, RateLimitRequestError
from .headers import HeaderStyle
from .leases import AsyncLease, Lease, LeaseDenied, LeaseLost
from .limiter import AsyncRateLimiter, RateLimiter, key_for, lease_key_for
from .limits import Limit, LimitRequest
from .rates import Rate, parse_rates
from .result import Policy, RateLimitResult

__version__ = "0.1.0"

__all__ = [
    "RL",
    "Acquired",
    "Algorithm",
    "AsyncLease",
    "AsyncRL",
    "AsyncRateLimiter",
    "BackendName",
    "Decision",
    "HeaderStyle",
    "KeyLimit",
    "Lease",
    "LeaseDenied",
    "LeaseId",
    "LeaseLost",
    "Limit",
    "LimitRequest",
    "LimitsConfig",
    "OnError",
    "Policy",
    "Rate",
    "RateLimitRequestError",
    "RateLimitResult",
    "RateLimiter",
    "RateLimiterUnavailable",
    "__version__",
    "key_for",
    "lease_key_for",
    "parse_rates",
]
