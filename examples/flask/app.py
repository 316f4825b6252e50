"""The tutorial's rate-limited API on redis-rl: GET /api/data, 10 requests per minute per
API key (the X-API-Key header). The server is REDIS_URL (default redis://localhost:6379/0),
with the rl module or without it (then the limiter uses its Lua script).

    flask --app app run          then: curl -i -H 'X-API-Key: demo' localhost:5000/api/data
"""

import logging
import os

from flask import Flask, abort, jsonify, make_response, request
from redis_rl.flask import FlaskRateLimiter

logging.basicConfig(level=logging.INFO)  # shows which backend decides, and Redis outages

app = Flask(__name__)
limiter = FlaskRateLimiter(app, redis_url=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))


def api_key() -> str:
    """Who is limited: the caller's API key (not the address, which many users can share)."""
    key = request.headers.get("X-API-Key")
    if not key:
        abort(make_response(jsonify(error="Send your API key in the X-API-Key header."), 401))
    return key


@app.get("/api/data")
@limiter.limit("10/minute", key_func=api_key)
def get_data():
    return jsonify(message="Data retrieved successfully!")
