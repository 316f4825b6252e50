"""What the HTTP benchmark compares: the limiters of bench/http/apps.py, the limits each runs
with, and the order of a round."""

ONE, TWO, REFUSING = "10/second", "10/second;1000/day", "1/second"

LIMITERS = {
    "none": "no limiter",
    "incr-expire": "tutorial INCR+EXPIRE pipeline",
    "flask-limiter-moving-window": "Flask-Limiter moving-window",
    "flask-limiter-sliding-window-counter": "Flask-Limiter sliding-window-counter",
    "flask-limiter-headers": "Flask-Limiter moving-window, headers_enabled",
    "redis-rl-module": "redis-rl, module",
    "redis-rl-script": "redis-rl, script (EVALSHA)",
    "redis-rl-function": "redis-rl, script (FCALL)",
}
COMPARED = [
    "incr-expire",
    "flask-limiter-moving-window",
    "flask-limiter-sliding-window-counter",
    "redis-rl-module",
    "redis-rl-script",
    "redis-rl-function",
]
# (limiter, limits): every limiter with 1 and 2 limits, which admit nearly every request;
# Flask-Limiter sending rate-limit headers as redis-rl does, with 2 limits; and three with 1
# per second, which refuses a share of the hot keys' requests.
VARIANTS = [("none", "")]
VARIANTS += [(name, ONE) for name in COMPARED]
VARIANTS += [(name, TWO) for name in COMPARED[:3]]
VARIANTS += [("flask-limiter-headers", TWO)]
VARIANTS += [(name, TWO) for name in COMPARED[3:]]
VARIANTS += [
    (name, REFUSING) for name in ("incr-expire", "flask-limiter-moving-window", "redis-rl-module")
]
NONE = ("none", "")


def round_order(round_, block):
    """The variants in an order that rotates from round to round, with no limiter first, last
    and after every `block` of them: the machine's load drifts, and each variant's latency is
    compared with the runs of no limiter just before and just after it."""
    others = [v for v in VARIANTS if v != NONE]
    shift = round_ * 5 % len(others)
    others = others[shift:] + others[:shift]
    order = []
    for start in range(0, len(others), block):
        order += [NONE, *others[start : start + block]]
    return [*order, NONE]
