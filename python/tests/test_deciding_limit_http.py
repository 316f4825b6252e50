"""With several rates on one route, the RateLimit field describes the rate that decided, whole:
its own remaining units and its own reset, never another rate's (over HTTP, with the module
and with both script forms, at frozen instants)."""

from __future__ import annotations

import httpx
import pytest
from flask import Flask

from redis_rl.commands import BackendName
from redis_rl.flask import FlaskRateLimiter

import servers
from conftest import FrozenClock, serve_wsgi


def app_with(server: servers.Server, backend: BackendName, identity: str) -> Flask:
    app = Flask(__name__)
    limiter = FlaskRateLimiter(
        app, redis_url=server.url(), backend=backend, key_func=lambda: identity
    )

    @app.get("/two")
    @limiter.limit("2/minute;100/day")
    def two() -> str:
        return "ok"

    @app.get("/costly")
    @limiter.limit("3/second;5/day", cost=3)
    def costly() -> str:
        return "ok"

    return app


@pytest.mark.parametrize("backend", ["module", "script", "function"])
def test_the_field_is_the_deciding_rate_s_own(
    server: servers.Server, frozen: FrozenClock, unique: str, backend: BackendName
) -> None:
    with (
        serve_wsgi(app_with(server, backend, unique)) as url,
        httpx.Client(base_url=url) as http,
    ):
        # Admitted: the per-minute rate has 1 left (the per-day one 99), so it decides; its
        # first hit lies 30 s into its window, so it is full again in 30 + 60 s, not in a day.
        first = http.get("/two")
        assert first.status_code == 200
        assert first.headers["RateLimit"] == '"per-minute";r=1;t=90'

        # Admitted at cost 3: the per-second rate is used up (0 left) and decides.
        costly = http.get("/costly")
        assert costly.status_code == 200
        assert costly.headers["RateLimit"].startswith('"per-second";r=0;t=')
        # Refused: both rates refuse; the per-day one makes the request wait longest, so it
        # decides, with its own 2 units left (not the per-second rate's 0) and its own reset.
        refused = http.get("/costly")
        assert refused.status_code == 429
        field = refused.headers["RateLimit"]
        assert field.startswith('"per-day";r=2;t='), field
        reset = int(field.rsplit("t=", 1)[1])
        assert 3600 < reset <= 2 * 86400, field
        assert int(refused.headers["Retry-After"]) > 3600
