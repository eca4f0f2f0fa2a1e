"""/readyz names each dependency that is down (database, Temporal, Redis) and is 503 until all answer."""

from __future__ import annotations

import httpx

from tests.support.stack import free_port


def test_ready_when_every_dependency_answers(stack_factory):
    stack = stack_factory("local")
    ready = httpx.get(f"{stack.url}/readyz", timeout=15)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok", "database": "ok", "temporal": "ok", "redis": "ok"}


def test_each_dependency_that_is_down_is_named(stack_factory):
    closed = free_port()  # nothing listens there
    stack = stack_factory(
        "local",
        WEGENT_TEMPORAL_ADDRESS=f"127.0.0.1:{closed}",
        WEGENT_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    report = httpx.get(f"{stack.url}/readyz", timeout=15)
    assert report.status_code == 503, report.text
    body = report.json()
    assert body["status"] == "unavailable" and body["database"] == "ok"
    assert body["temporal"] != "ok" and body["redis"] != "ok"
    assert httpx.get(f"{stack.url}/healthz", timeout=5).status_code == 200  # alive, just not ready
