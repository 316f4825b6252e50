"""The tutorial's endpoint, `GET /api/data` keyed by the `X-API-Key` header, under each
limiter the HTTP benchmark compares. gunicorn serves `apps:app`; the environment picks:

    BENCH_LIMITER    none, incr-expire, flask-limiter-moving-window,
                     flask-limiter-sliding-window-counter, flask-limiter-headers,
                     redis-rl-module, redis-rl-script or redis-rl-function
    BENCH_LIMITS     rate strings, such as "10/second" or "10/second;1000/day"
    BENCH_REDIS_URL  the server

Every variant does the same work around its limiter: it reads the key (a 401 without one)
and answers the tutorial's JSON. Each limiter is used as its documentation shows, with its
defaults: Flask-Limiter's `headers_enabled` is off, redis-rl sends the RateLimit fields.
flask-limiter-headers is the moving window with `headers_enabled=True`, for the same fields.
"""

import os
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask, abort, jsonify, make_response, request

from redis_rl.rates import Rate, parse_rates

View = Callable[[], Any]


def api_key() -> str:
    key = request.headers.get("X-API-Key")
    if not key:
        abort(make_response(jsonify(error="Send your API key in the X-API-Key header."), 401))
    return key


def get_data() -> Any:
    api_key()
    return jsonify(message="Data retrieved successfully!")


def no_limiter(app: Flask, limits: str, redis_url: str) -> View:
    return get_data


def incr_expire(app: Flask, limits: str, redis_url: str) -> View:
    """The tutorial's limiter, one counter per limit: INCR and EXPIRE of every counter in one
    redis-py pipeline (a MULTI/EXEC transaction, redis-py's default), then TTL when refused.
    As in the tutorial, every request pushes the expiry forward, refused ones included."""
    client = redis.Redis.from_url(redis_url)
    rates: list[Rate] = parse_rates(limits)

    def rate_limit(user_id: str) -> tuple[bool, str | None]:
        keys = [f"rate_limit:{user_id}:{rate.limit}/{rate.seconds}" for rate in rates]
        pipe = client.pipeline()
        for key, rate in zip(keys, rates, strict=True):
            pipe.incr(key)
            pipe.expire(key, rate.seconds)
        counts = pipe.execute()[::2]
        for key, rate, count in zip(keys, rates, counts, strict=True):
            if count > rate.limit:
                remaining_time = client.ttl(key)
                return False, f"Rate limit exceeded. Try again in {remaining_time} seconds."
        return True, None

    def limited_get_data() -> Any:
        success, message = rate_limit(api_key())
        if not success:
            return jsonify({"error": message}), 429
        return jsonify(message="Data retrieved successfully!")

    return limited_get_data


def flask_limiter(strategy: str, headers: bool = False) -> Callable[[Flask, str, str], View]:
    def make(app: Flask, limits: str, redis_url: str) -> View:
        from flask_limiter import Limiter

        limiter = Limiter(
            api_key,
            app=app,
            storage_uri=redis_url,
            strategy=strategy,
            headers_enabled=headers,
        )
        return limiter.limit(limits)(get_data)

    return make


def redis_rl(backend: str) -> Callable[[Flask, str, str], View]:
    def make(app: Flask, limits: str, redis_url: str) -> View:
        from redis_rl.flask import FlaskRateLimiter

        limiter = FlaskRateLimiter(app, redis_url=redis_url, backend=backend)  # type: ignore[arg-type]
        return limiter.limit(limits, key_func=api_key)(get_data)

    return make


LIMITERS: dict[str, Callable[[Flask, str, str], View]] = {
    "none": no_limiter,
    "incr-expire": incr_expire,
    "flask-limiter-moving-window": flask_limiter("moving-window"),
    "flask-limiter-sliding-window-counter": flask_limiter("sliding-window-counter"),
    "flask-limiter-headers": flask_limiter("moving-window", headers=True),
    "redis-rl-module": redis_rl("module"),
    "redis-rl-script": redis_rl("script"),
    "redis-rl-function": redis_rl("function"),
}


def create_app(limiter: str, limits: str, redis_url: str) -> Flask:
    if limiter not in LIMITERS:
        raise SystemExit(f"BENCH_LIMITER must be one of {', '.join(LIMITERS)}, not {limiter!r}")
    app = Flask(__name__)
    view = LIMITERS[limiter](app, limits, redis_url)
    app.add_url_rule("/api/data", "get_data", view, methods=["GET"])
    return app


app = create_app(
    os.environ.get("BENCH_LIMITER", "none"),
    os.environ.get("BENCH_LIMITS", "10/second"),
    os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
)
