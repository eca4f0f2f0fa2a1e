"""Issue 16, item 8: sign-in resists guessing. Same work and answer for unknown names and wrong passwords,
failed attempts limited per address and per name (shared through Redis when configured), 429 + Retry-After."""

from __future__ import annotations

import statistics
import time
import uuid

from fastapi.testclient import TestClient

from api.core.login_guard import Limits, LoginGuard, MemoryCounters, RedisCounters
from wegent.config import get_settings

LOGIN = "/api/v1/auth/login"


def _client_from(address: str) -> TestClient:
    """The same app (already started by the session's client), seen from another client address."""
    from api.main import app

    return TestClient(app, client=(address, 40000))


def _new_user(client, admin_headers) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    username, password = f"g{uuid.uuid4().hex[:10]}", "right-" + uuid.uuid4().hex
    response = client.post(
        "/api/v1/admin/users", json={"username": username, "password": password}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    return username, password


def _timed(http: TestClient, username: str, password: str) -> tuple[float, int, dict]:
    started = time.perf_counter()
    response = http.post(LOGIN, json={"username": username, "password": password})
    return time.perf_counter() - started, response.status_code, response.json()


def test_unknown_names_and_wrong_passwords_get_the_same_answer_after_the_same_work(client, admin_headers):
    username, _ = _new_user(client, admin_headers)
    http = _client_from(f"10.16.8.{uuid.uuid4().int % 250}")
    _timed(http, "warm-up-" + uuid.uuid4().hex[:6], "x")  # the dummy hash is made once, on first use
    wrong, unknown = [], []
    for _ in range(4):
        seconds, status, body = _timed(http, username, "wrong-password")
        wrong.append(seconds)
        assert (status, body) == (401, {"detail": "incorrect username or password"})
        seconds, status, body = _timed(http, "nobody-" + uuid.uuid4().hex[:8], "wrong-password")
        unknown.append(seconds)
        assert (status, body) == (401, {"detail": "incorrect username or password"})
    # An unknown name costs a full Argon2 verification too (without one it answers in well under a tenth).
    assert statistics.median(unknown) > 0.5 * statistics.median(wrong), (unknown, wrong)


def test_failures_for_one_name_lock_that_name_with_429_and_retry_after(client, admin_headers):
    username, password = _new_user(client, admin_headers)
    per_user = get_settings().login_failures_per_user
    # Spread over addresses: the name's own counter must stop the guessing.
    for attempt in range(per_user):
        response = _client_from(f"10.8.{attempt}.1").post(LOGIN, json={"username": username, "password": "guess"})
        assert response.status_code == 401
    locked = _client_from("10.8.200.1").post(LOGIN, json={"username": username, "password": password})
    assert locked.status_code == 429  # even the right password, until the window ends
    assert 0 < int(locked.headers["Retry-After"]) <= get_settings().login_window_seconds
    assert "too many failed sign-ins" in locked.json()["detail"]
    # Other names are not affected.
    other, other_password = _new_user(client, admin_headers)
    assert (
        _client_from("10.8.200.1").post(LOGIN, json={"username": other, "password": other_password}).status_code == 200
    )


def test_failures_from_one_address_lock_that_address(client, admin_headers):
    username, password = _new_user(client, admin_headers)
    address = f"10.99.{uuid.uuid4().int % 250}.7"
    http = _client_from(address)
    for attempt in range(get_settings().login_failures_per_address):
        response = http.post(LOGIN, json={"username": f"spray{attempt}-{uuid.uuid4().hex[:4]}", "password": "x"})
        assert response.status_code == 401, (attempt, response.text)
    locked = http.post(LOGIN, json={"username": username, "password": password})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # The same account from another address still signs in.
    assert _client_from("10.98.0.1").post(LOGIN, json={"username": username, "password": password}).status_code == 200


def test_successful_sign_ins_are_never_throttled(client, admin_headers):
    username, password = _new_user(client, admin_headers)
    http = _client_from("10.77.0.1")
    for _ in range(get_settings().login_failures_per_user + 5):
        assert http.post(LOGIN, json={"username": username, "password": password}).status_code == 200


def test_redis_counters_are_shared_by_every_api_process():
    """Two guards on one Redis stand for two API processes: failures seen by either count for both."""
    url = "redis://127.0.0.1:6379/0"
    prefix = f"wegent-test-{uuid.uuid4().hex[:8]}"
    limits = Limits(per_address=100, per_user=3, window_seconds=60)
    first = LoginGuard(RedisCounters(url, prefix), limits, hashing_slots=1)
    second = LoginGuard(RedisCounters(url, prefix), limits, hashing_slots=1)
    first.failed("10.0.0.1", "Alice")
    second.failed("10.0.0.2", "alice")
    assert first.retry_after("10.0.0.3", "alice") is None
    first.failed("10.0.0.3", "ALICE")
    for guard in (first, second):
        wait = guard.retry_after("10.0.0.4", "alice")
        assert wait is not None and 0 < wait <= 60
    # Per process without Redis, as documented.
    alone = LoginGuard(MemoryCounters(), limits, hashing_slots=1)
    assert alone.retry_after("10.0.0.4", "alice") is None


async def test_password_hashing_is_capped_per_process(client, admin_headers, monkeypatch):
    """With every hashing slot taken, a sign-in waits a bounded time, then gets 429 instead of piling up."""
    import httpx

    from api.core.login_guard import login_guard
    from api.main import app
    from api.routers import auth

    username, password = _new_user(client, admin_headers)
    monkeypatch.setattr(auth, "HASHING_WAIT_SECONDS", 0.3)
    slots = login_guard().hashing()  # this event loop's slots, the ones the request below competes for
    for _ in range(get_settings().login_concurrency):
        await slots.acquire()
    transport = httpx.ASGITransport(app=app, client=("10.55.0.1", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        try:
            busy = await http.post(LOGIN, json={"username": username, "password": password})
        finally:
            for _ in range(get_settings().login_concurrency):
                slots.release()
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
        assert "too many sign-ins at once" in busy.json()["detail"]
        assert (await http.post(LOGIN, json={"username": username, "password": password})).status_code == 200


def test_sign_in_keeps_working_when_redis_is_down():
    """Throttling fails open (and logs) rather than locking every account out during a Redis outage."""
    limits = Limits(per_address=1, per_user=1, window_seconds=60)
    guard = LoginGuard(RedisCounters("redis://127.0.0.1:1/0", "wegent-test-down"), limits, hashing_slots=1)
    guard.failed("10.0.0.1", "alice")
    guard.succeeded("10.0.0.1", "alice")
    assert guard.retry_after("10.0.0.1", "alice") is None
