"""The Flask integration over real HTTP: the example app and the extension's options, served
by werkzeug's WSGI server in a thread, against real servers."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import redis
from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from redis_rl import LeaseDenied
from redis_rl.flask import FlaskRateLimiter

import servers
from conftest import ROOT, FrozenClock, closed_port, rl_calls, serve_wsgi

EXAMPLE = ROOT / "examples" / "flask" / "app.py"
PROBLEM = "application/problem+json"


def load_example(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Imports examples/flask/app.py afresh, reading REDIS_URL as `flask run` would."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    spec = importlib.util.spec_from_file_location(f"example_{uuid.uuid4().hex}", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(server: servers.Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with serve_wsgi(load_example(server.url(), monkeypatch).app) as url:
        yield url


def test_the_example_across_a_window(example: str, frozen: FrozenClock) -> None:
    example_across_a_window(example, frozen)


def example_across_a_window(url: str, frozen: FrozenClock) -> None:
    """Ten requests, the 429, another key, the end of the window, no key: over HTTP."""
    demo = {"X-API-Key": "demo"}
    with httpx.Client(base_url=url) as http:
        for remaining in range(9, -1, -1):
            response = http.get("/api/data", headers=demo)
            assert response.status_code == 200
            assert response.json() == {"message": "Data retrieved successfully!"}
            assert response.headers["RateLimit-Policy"] == '"per-minute";q=10;w=60'
            assert response.headers["RateLimit"].startswith(f'"per-minute";r={remaining};t=')
            assert "Retry-After" not in response.headers
        frozen.advance_ms(250)  # away from a second's edge: whole seconds are then exact
        denied = http.get("/api/data", headers=demo)
        assert denied.status_code == 429
        assert denied.headers["Content-Type"] == PROBLEM
        assert denied.headers["Retry-After"] == "60"  # 59.75 s, rounded up
        assert denied.headers["RateLimit"] == '"per-minute";r=0;t=60'
        assert denied.headers["RateLimit-Policy"] == '"per-minute";q=10;w=60'
        assert denied.json() == {
            "type": "https://iana.org/assignments/http-problem-types#quota-exceeded",
            "title": "Quota exceeded",
            "status": 429,
            "detail": "The per-minute quota (10 per 60 s) is used up; retry in 60 s.",
            "violated-policies": ["per-minute"],
        }
        other = http.get("/api/data", headers={"X-API-Key": "other"})
        assert other.status_code == 200 and other.headers["RateLimit"].startswith(
            '"per-minute";r=9;'
        )
        frozen.advance_ms(59_250)  # 59.5 s after the burst: half a second to go
        late = http.get("/api/data", headers=demo)
        assert late.status_code == 429 and late.headers["Retry-After"] == "1"
        assert late.headers["RateLimit"] == '"per-minute";r=0;t=1'
        frozen.advance_ms(501)
        again = http.get("/api/data", headers=demo)
        assert again.status_code == 200 and "RateLimit" in again.headers
        anonymous = http.get("/api/data")
        assert anonymous.status_code == 401 and "RateLimit" not in anonymous.headers
        assert anonymous.json() == {"error": "Send your API key in the X-API-Key header."}


def test_the_example_without_redis(
    kind: servers.ServerKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis down: requests go through (on_error="allow"), with the policy but no count."""
    app = load_example(f"redis://127.0.0.1:{closed_port()}/0", monkeypatch).app
    with serve_wsgi(app) as url, httpx.Client(base_url=url) as http:
        for _ in range(12):
            response = http.get("/api/data", headers={"X-API-Key": "demo"})
            assert response.status_code == 200
            assert response.headers["RateLimit-Policy"] == '"per-minute";q=10;w=60'
            assert "RateLimit" not in response.headers


def build_app(client: redis.Redis, **options: object) -> tuple[Flask, FlaskRateLimiter]:
    app = Flask(__name__)
    limiter = FlaskRateLimiter(
        app,
        redis=client,
        key_func=lambda: request.headers.get("X-Key", "anon"),
        **options,  # type: ignore[arg-type]
    )

    @app.route("/per-method", methods=["GET", "POST"])
    @limiter.limit("2/minute", per_method=True)
    def per_method() -> str:
        return "ok"

    @app.route("/post-only", methods=["GET", "POST"])
    @limiter.limit("1/minute", methods=["post"])
    def post_only() -> str:
        return "ok"

    @app.get("/default")
    def default() -> str:
        return "ok"

    @app.get("/exempt")
    @limiter.exempt
    def exempt() -> str:
        return "ok"

    shared = limiter.shared_limit("3/minute", scope="ab")

    @app.get("/a")
    @shared
    def a() -> str:
        return "a"

    @app.get("/b")
    @shared
    def b() -> str:
        return "b"

    @app.post("/upload")
    @limiter.limit("10/minute", cost=lambda: int(request.args["n"]))
    def upload() -> str:
        return "stored"

    @app.get("/status")
    @limiter.limit("2/second;5/minute;100/day")
    def status() -> Response:
        result = g.rate_limit
        return jsonify(remaining=result.remaining, policy=result.policy.name)

    @app.get("/plan")
    @limiter.limit(plan=lambda: request.headers.get("X-Plan"))
    def plan() -> str:
        return "ok"

    @app.get("/search")
    @limiter.limit("search", exempt_when=lambda: request.args.get("internal") == "1")
    def search() -> str:
        return "found"

    return app, limiter


CONFIG = {
    "limits": {"search": "1/minute"},
    "plans": {"free": "1/minute", "pro": "3/minute"},
    "default_plan": "free",
}


@pytest.fixture
def features(client: redis.Redis, frozen: FrozenClock) -> Iterator[httpx.Client]:
    app, _ = build_app(client, default_limits="3/minute", config=CONFIG)
    with serve_wsgi(app) as url, httpx.Client(base_url=url) as http:
        yield http


def statuses(http: httpx.Client, method: str, path: str, times: int, **kw: object) -> list[int]:
    return [http.request(method, path, **kw).status_code for _ in range(times)]  # type: ignore[arg-type]


def test_per_method_and_methods(features: httpx.Client) -> None:
    assert statuses(features, "GET", "/per-method", 3) == [200, 200, 429]
    assert statuses(features, "POST", "/per-method", 3) == [200, 200, 429]
    get = features.get("/post-only")
    assert get.status_code == 200 and "RateLimit" not in get.headers
    assert statuses(features, "POST", "/post-only", 2) == [200, 429]
    assert statuses(features, "GET", "/post-only", 3) == [200, 200, 200]


def test_defaults_exempt_and_shared(features: httpx.Client) -> None:
    assert statuses(features, "GET", "/default", 4) == [200, 200, 200, 429]
    exempt = features.get("/exempt")
    assert exempt.status_code == 200 and "RateLimit-Policy" not in exempt.headers
    assert statuses(features, "GET", "/exempt", 5) == [200] * 5
    assert statuses(features, "GET", "/a", 2) + statuses(features, "GET", "/b", 2) == [
        200,
        200,
        200,
        429,
    ]
    assert features.get("/a").status_code == 429
    assert features.get("/a", headers={"X-Key": "someone-else"}).status_code == 200


def test_costs(features: httpx.Client, frozen: FrozenClock) -> None:
    first = features.post("/upload", params={"n": 7})
    assert first.status_code == 200 and first.headers["RateLimit"].startswith('"per-minute";r=3;')
    frozen.advance_ms(250)
    over = features.post("/upload", params={"n": 4})
    assert over.status_code == 429 and over.headers["Retry-After"].isdigit()
    never = features.post("/upload", params={"n": 11})
    assert never.status_code == 429 and "Retry-After" not in never.headers
    assert never.json()["detail"] == (
        "This request costs more than the per-minute quota (10 per 60 s) can ever admit."
    )
    assert features.post("/upload", params={"n": 3}).status_code == 200


def test_several_limits_one_round_trip_and_g(features: httpx.Client, client: redis.Redis) -> None:
    client.config_resetstat()
    response = features.get("/status")
    assert response.json() == {"remaining": 1, "policy": "per-second"}
    assert response.headers["RateLimit-Policy"] == (
        '"per-second";q=2;w=1, "per-minute";q=5;w=60, "per-day";q=100;w=86400'
    )
    assert response.headers["RateLimit"].startswith('"per-second";r=1;t=')
    assert rl_calls(client) == {"rl.mhit": 1}
    features.get("/status")
    denied = features.get("/status")
    assert denied.status_code == 429 and denied.json()["violated-policies"] == ["per-second"]
    assert rl_calls(client) == {"rl.mhit": 3}


def test_plans_and_named_limits(features: httpx.Client) -> None:
    pro = {"X-Plan": "pro", "X-Key": "p"}
    assert statuses(features, "GET", "/plan", 4, headers=pro) == [200, 200, 200, 429]
    free = {"X-Plan": "free", "X-Key": "f"}
    assert statuses(features, "GET", "/plan", 2, headers=free) == [200, 429]
    unknown = {"X-Plan": "gold", "X-Key": "g"}  # an unknown plan gets the default plan
    assert statuses(features, "GET", "/plan", 2, headers=unknown) == [200, 429]
    assert statuses(features, "GET", "/search", 2) == [200, 429]
    assert statuses(features, "GET", "/search", 2, params={"internal": "1"}) == [200, 200]


@pytest.mark.parametrize(
    ("style", "present", "absent"),
    [
        (
            "legacy",
            ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
            ["RateLimit"],
        ),
        ("both", ["X-RateLimit-Limit", "RateLimit", "RateLimit-Policy"], []),
        ("none", [], ["X-RateLimit-Limit", "RateLimit", "RateLimit-Policy"]),
    ],
)
def test_header_styles(
    client: redis.Redis, frozen: FrozenClock, style: str, present: list[str], absent: list[str]
) -> None:
    app, _ = build_app(client, headers=style, config=CONFIG)
    with serve_wsgi(app) as url, httpx.Client(base_url=url) as http:
        response = http.post("/upload", params={"n": 4})
        for name in present:
            assert name in response.headers
        for name in absent:
            assert name not in response.headers
        if style != "none":
            assert response.headers.get("X-RateLimit-Remaining", "6") == "6"
        denied = http.post("/upload", params={"n": 7})
        assert denied.status_code == 429 and "Retry-After" in denied.headers


@pytest.mark.parametrize(("on_error", "status"), [("allow", 200), ("deny", 503), ("raise", 500)])
def test_redis_down(kind: servers.ServerKind, on_error: str, status: int) -> None:
    app = Flask(__name__)
    limiter = FlaskRateLimiter(
        app,
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        on_error=on_error,  # type: ignore[arg-type]
    )

    @app.get("/")
    @limiter.limit("1/minute")
    def index() -> str:
        return "ok"

    with serve_wsgi(app) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            response = http.get("/")
            assert response.status_code == status
            if status == 503:
                assert response.headers["Content-Type"] == PROBLEM
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json()["title"] == "Service Unavailable"


def test_trusted_proxy_recipe(client: redis.Redis) -> None:
    """Behind one proxy, ProxyFix makes the remote address the client's again."""
    app = Flask(__name__)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    limiter = FlaskRateLimiter(app, redis=client)

    @app.get("/")
    @limiter.limit("1/minute")
    def index() -> str:
        return request.remote_addr or ""

    with serve_wsgi(app) as url, httpx.Client(base_url=url) as http:
        first = http.get("/", headers={"X-Forwarded-For": "203.0.113.7"})
        assert first.status_code == 200 and first.text == "203.0.113.7"
        assert http.get("/", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
        assert http.get("/", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
    assert b"rl:{203.0.113.7}:index:1/60" in client.keys("*")


def test_declarations_are_checked(client: redis.Redis) -> None:
    limiter = FlaskRateLimiter()
    with pytest.raises(ValueError, match="unknown time unit 'minuet'"):
        limiter.limit("10/minuet")
    limiter.limit("serch")(lambda: "x")
    app = Flask(__name__)
    app.config["RL_CONFIG"] = CONFIG
    with pytest.raises(ValueError, match=r"'serch' is neither a rate.*named limits: search"):
        limiter.init_app(app)
    with pytest.raises(ValueError, match="needs rates"):
        limiter.limit()
    with pytest.raises(TypeError, match="decorates view functions"):
        limiter.limit("1/second")(Blueprint("bp", __name__))  # type: ignore[type-var]


def test_factory_pattern_and_app_config(server: servers.Server, tmp_path: Path) -> None:
    limiter = FlaskRateLimiter()
    (tmp_path / "limits.toml").write_text('default = "2/minute"\n')
    app = Flask(__name__)
    app.config.update(
        RL_REDIS_URL=server.url(), RL_CONFIG=str(tmp_path / "limits.toml"), RL_HEADERS="legacy"
    )

    @app.get("/")
    def index() -> str:
        return "ok"

    limiter.init_app(app)
    with serve_wsgi(app) as url, httpx.Client(base_url=url) as http:
        responses = [http.get("/") for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 429]
        assert responses[0].headers["X-RateLimit-Limit"] == "2"
    with app.app_context():
        client = limiter.limiter_for().client
        assert isinstance(client, redis.Redis)
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 0.5


def otp_app(url: str) -> Flask:
    """One-time codes: three per phone number in any hour, exactly (ALGO LOG)."""
    app = Flask(__name__)
    limiter = FlaskRateLimiter(app, redis_url=url)

    @app.post("/otp")
    @limiter.limit("3/hour", algorithm="log", key_func=lambda: request.form["phone"])
    def otp() -> Response:
        return jsonify(sent=True, remaining=g.rate_limit.remaining)

    return app


def otp_across_an_hour(url: str, frozen: FrozenClock) -> None:
    """Codes at 0, 10 and 20 minutes; the fourth waits until the first is an hour old, to the
    second, and then the next until the second is."""
    phone = {"phone": "+15550100"}
    with httpx.Client(base_url=url) as http:
        frozen.advance_ms(250)  # away from a second's edge: whole seconds are then exact
        for remaining in (2, 1, 0):
            sent = http.post("/otp", data=phone)
            assert sent.status_code == 200 and sent.json() == {"sent": True, "remaining": remaining}
            assert sent.headers["RateLimit-Policy"] == '"per-hour";q=3;w=3600'
            frozen.advance_ms(600_000)
        # At 30 minutes: until the first code is an hour old.
        denied = http.post("/otp", data=phone)
        assert denied.status_code == 429 and denied.headers["Retry-After"] == "1800"
        assert http.post("/otp", data={"phone": "+15550199"}).status_code == 200
        frozen.advance_ms(1_800_000 - 1_000)
        assert http.post("/otp", data=phone).headers["Retry-After"] == "1"
        frozen.advance_ms(1_000)
        assert http.post("/otp", data=phone).status_code == 200  # the first code aged out
        again = http.post("/otp", data=phone)
        assert again.status_code == 429 and again.headers["Retry-After"] == "600"


def test_an_exact_limit_over_http(server: servers.Server, frozen: FrozenClock) -> None:
    with serve_wsgi(otp_app(server.url())) as url:
        otp_across_an_hour(url, frozen)
    assert server.client().type("rl:{+15550100}:otp:3/3600") == b"ratelimit"


def test_leases_in_a_view(client: redis.Redis, frozen: FrozenClock) -> None:
    """`limiter.lease(...)` of the extension, as the top-level README shows it: a lease on the
    current app's limiter (`limiter_for(app)`)."""
    app = Flask(__name__)
    limiter = FlaskRateLimiter(app, redis=client)

    @app.post("/report")
    def report() -> tuple[str, int]:
        try:
            with limiter.lease("tenant:7", limit=1, lease="30s") as lease:
                lease.renew()
                return lease.key or "", 200
        except LeaseDenied as denied:
            return f"busy for {denied.retry_after} s", 409

    with serve_wsgi(app) as url, httpx.Client(base_url=url) as http:
        done = http.post("/report")
        assert done.status_code == 200 and done.text == "rl:{tenant:7}:default:leases"
        with limiter.limiter_for(app).lease("tenant:7", limit=1, lease="30s") as held:
            assert held.held
            busy = http.post("/report")
            assert busy.status_code == 409 and busy.text == "busy for 30.0 s"
        assert http.post("/report").status_code == 200
