"""Operations endpoints, no token needed: liveness and readiness."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint
from sqlalchemy import text

from models.errors import problem
from web import db
from web.problems import problem_response

blp = Blueprint("ops", __name__)


@blp.get("/healthz")
def healthz() -> Any:
    """The process is alive; no dependency is checked."""
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Any:
    """PostgreSQL and Redis both answer; 503 naming the failing part otherwise."""
    failing = []
    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        failing.append("postgresql")
    try:
        client = redis.Redis.from_url(db.settings().redis_url, socket_timeout=2)
        client.ping()
        client.close()
    except Exception:
        failing.append("redis")
    if failing:
        body = problem("unavailable", "Unavailable", 503, f"Not answering: {', '.join(failing)}.")
        body["failing"] = failing
        return problem_response(body, {"Retry-After": "5"})
    return {"status": "ready", "postgresql": "ok", "redis": "ok"}
