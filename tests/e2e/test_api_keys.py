"""Issue 17, item 1: personal API keys (`wg-…`) on a real stack (API + worker processes, MariaDB, Redis).

A key acts as its user on REST (`Authorization: Bearer` and `X-API-Key`) and on the Socket.IO `auth`; revoked,
expired and disabled-account keys get 401; only a SHA-256 digest is stored; the CLI manages keys and uses
`WEGENT_API_KEY` instead of a saved login."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest
import socketio

from tests.conftest import ADMIN_PASSWORD, MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER, TEST_DB
from tests.support.chat_client import ChatClient
from tests.support.stack import Process, Stack, free_port


def _sql(query: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, database=TEST_DB, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def _user(stack: Stack) -> tuple[int, str, dict[str, str]]:
    username, password = f"k{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
    response = stack.request("POST", "/api/v1/admin/users", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["id"], username, stack.login(username, password)


def _create_key(stack: Stack, headers: dict[str, str], name: str, **extra: Any) -> dict[str, Any]:
    response = stack.request("POST", "/api/v1/users/me/keys", headers=headers, json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def _me(stack: Stack, **headers: str) -> Any:
    return stack.request("GET", "/api/v1/users/me", headers=headers)


async def _socket_refused(url: str, auth: dict[str, str]) -> str:
    """The server's reason for refusing the connection (the `connect_error` payload)."""
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []
    client.on("connect_error", reasons.append, namespace="/chat")
    try:
        await client.connect(url, auth=auth, namespaces=["/chat"], transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return str(reasons)
    await client.disconnect()
    raise AssertionError(f"socket with {list(auth)} was accepted")


def test_key_acts_as_its_user_on_rest_and_socket_until_revoked(local_stack: Stack) -> None:
    user_id, username, headers = _user(local_stack)
    created = _create_key(local_stack, headers, "ci job")
    key = created["key"]
    assert key.startswith("wg-") and len(key) > 40
    assert created["prefix"] == key[:11] and created["active"] and created["expiresAt"] is None
    assert created["userId"] == user_id and created["lastUsedAt"] is None

    # Shown once: the listing has the prefix, never the key.
    listed = local_stack.request("GET", "/api/v1/users/me/keys", headers=headers)
    assert listed.status_code == 200 and [k["id"] for k in listed.json()] == [created["id"]]
    assert key not in listed.text and "key" not in listed.json()[0]

    # Stored as its SHA-256 digest only: the plaintext is nowhere in the row.
    rows = _sql("SELECT key_hash, prefix, name FROM api_keys WHERE id = %s", created["id"])
    assert rows == [(hashlib.sha256(key.encode()).hexdigest(), key[:11], "ci job")]
    assert not _sql("SELECT id FROM api_keys WHERE key_hash = %s OR name = %s", key, key)

    bearer = _me(local_stack, Authorization=f"Bearer {key}")
    header = _me(local_stack, **{"X-API-Key": key})
    assert bearer.status_code == 200 and bearer.json()["username"] == username
    assert header.status_code == 200 and header.json()["username"] == username
    # It acts as the user, not more: admin routes stay closed.
    assert local_stack.request("GET", "/api/v1/admin/users", headers={"X-API-Key": key}).status_code == 403
    # A key can do what the user can: create a task-independent resource and read it back.
    ghost = {"kind": "Ghost", "metadata": {"name": "keyghost"}, "spec": {"systemPrompt": "hi"}}
    made = local_stack.request("POST", "/api/v1/namespaces/default/ghosts", headers={"X-API-Key": key}, json=ghost)
    assert made.status_code == 201, made.text
    mine = local_stack.request("GET", "/api/v1/namespaces/default/ghosts/keyghost", headers=headers)
    assert mine.status_code == 200  # owned by the key's user
    used = local_stack.request("GET", "/api/v1/users/me/keys", headers=headers).json()[0]
    assert used["lastUsedAt"] is not None

    async def sockets() -> None:
        by_token = await ChatClient(local_stack.url, key).connect()
        by_api_key = ChatClient(local_stack.url, key)
        await by_api_key.sio.connect(
            local_stack.url, auth={"apiKey": key}, namespaces=["/chat"], transports=["websocket"], wait_timeout=10
        )
        try:
            # Authenticated as the user: a task that does not exist is 404, not 401.
            for client in (by_token, by_api_key):
                ack = await client.call("history:sync", {"task_id": 999_999})
                assert ack["ok"] is False and ack["status"] == 404, ack

            revoked = local_stack.request("DELETE", f"/api/v1/users/me/keys/{created['id']}", headers=headers)
            assert revoked.status_code == 200 and revoked.json()["revokedAt"] and not revoked.json()["active"]
            # The sockets that signed in with the key are dropped by the process that revoked it.
            await by_token.wait_for(lambda events: any(n == "auth:error" for n, _ in events), timeout=10)
            await by_api_key.wait_for(lambda events: any(n == "auth:error" for n, _ in events), timeout=10)
            assert "revoked" in await _socket_refused(local_stack.url, {"token": key})
            assert "revoked" in await _socket_refused(local_stack.url, {"apiKey": key})
        finally:
            await by_token.close()
            await by_api_key.close()

    asyncio.run(sockets())

    for response in (_me(local_stack, Authorization=f"Bearer {key}"), _me(local_stack, **{"X-API-Key": key})):
        assert response.status_code == 401 and response.json()["detail"] == "API key revoked"
    assert local_stack.request("GET", "/api/v1/users/me/keys", headers=headers).json() == []
    with_revoked = local_stack.request("GET", "/api/v1/users/me/keys?includeRevoked=true", headers=headers).json()
    assert [k["id"] for k in with_revoked] == [created["id"]] and with_revoked[0]["revokedAt"]
    # The key never reached a log line of the API or the worker.
    for process in (local_stack.api, *local_stack.workers):
        assert process is not None and key not in process.log_path.read_text(errors="replace")
    # Something that only looks like a key is refused the same way.
    assert _me(local_stack, **{"X-API-Key": "wg-" + "x" * 43}).status_code == 401
    assert _me(local_stack, **{"X-API-Key": "not-a-key"}).status_code == 401


def test_expired_and_disabled_keys_are_refused(local_stack: Stack) -> None:
    user_id, _, headers = _user(local_stack)
    expiring = _create_key(local_stack, headers, "short", expiresDays=1)
    assert expiring["expiresAt"] is not None
    # A day is the shortest lifetime through the API: move this (never used, so never cached) key's end back.
    _sql("UPDATE api_keys SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 MINUTE WHERE id = %s", expiring["id"])
    expired = _me(local_stack, Authorization=f"Bearer {expiring['key']}")
    assert expired.status_code == 401 and expired.json()["detail"] == "API key expired"
    listed = local_stack.request("GET", "/api/v1/users/me/keys", headers=headers).json()
    assert [(k["id"], k["active"]) for k in listed] == [(expiring["id"], False)]

    bad = local_stack.request("POST", "/api/v1/users/me/keys", headers=headers, json={"name": "x", "expiresDays": 0})
    assert bad.status_code == 422 and "expiresDays" in bad.text
    nameless = local_stack.request("POST", "/api/v1/users/me/keys", headers=headers, json={})
    assert nameless.status_code == 422 and "name" in nameless.text

    key = _create_key(local_stack, headers, "lives")["key"]
    assert _me(local_stack, **{"X-API-Key": key}).status_code == 200
    disabled = local_stack.request("PATCH", f"/api/v1/admin/users/{user_id}", json={"is_active": False})
    assert disabled.status_code == 200
    refused = _me(local_stack, **{"X-API-Key": key})
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    assert "disabled" in asyncio.run(_socket_refused(local_stack.url, {"token": key}))


def test_admins_list_and_revoke_any_key_users_only_their_own(local_stack: Stack) -> None:
    _, owner, owner_headers = _user(local_stack)
    _, _, other_headers = _user(local_stack)
    created = _create_key(local_stack, owner_headers, "owned")
    key = created["key"]

    assert local_stack.request("GET", "/api/v1/admin/keys", headers=other_headers).status_code == 403
    assert local_stack.request("GET", "/api/v1/users/me/keys", headers=other_headers).json() == []
    stolen = local_stack.request("DELETE", f"/api/v1/users/me/keys/{created['id']}", headers=other_headers)
    assert stolen.status_code == 404
    assert (
        local_stack.request("DELETE", f"/api/v1/admin/keys/{created['id']}", headers=other_headers).status_code == 403
    )
    assert _me(local_stack, **{"X-API-Key": key}).status_code == 200

    everyone = local_stack.request("GET", "/api/v1/admin/keys").json()
    mine = [k for k in everyone if k["id"] == created["id"]]
    assert mine and mine[0]["username"] == owner and key not in str(everyone)
    revoked = local_stack.request("DELETE", f"/api/v1/admin/keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    assert _me(local_stack, **{"X-API-Key": key}).status_code == 401
    assert local_stack.request("DELETE", "/api/v1/admin/keys/987654321").status_code == 404


def _wegent(stack: Stack, config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "WEGENT_CONFIG_DIR": str(config), "WEGENT_API_URL": stack.url, **env}
    environ.pop("WEGENT_TOKEN", None)
    if "WEGENT_API_KEY" not in env:
        environ.pop("WEGENT_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=environ, text=True, capture_output=True, timeout=120
    )


def test_cli_keys_and_wegent_api_key(local_stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    assert _wegent(local_stack, config, "login", "-u", "admin", "-p", ADMIN_PASSWORD).returncode == 0
    made = _wegent(local_stack, config, "keys", "create", "nightly", "--expires-days", "7")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("wg-") and "not shown again" in made.stderr and "expires" in made.stderr

    listed = _wegent(local_stack, config, "keys", "list")
    assert listed.returncode == 0 and "nightly" in listed.stdout and key[:11] in listed.stdout
    assert key not in listed.stdout and "active" in listed.stdout

    # No saved login at all: the key alone is enough for the client commands.
    empty = tmp_path / "empty"
    without = _wegent(local_stack, empty, "tasks")
    assert without.returncode == 1 and "wegent login" in without.stderr
    with_key = _wegent(local_stack, empty, "keys", "list", "-o", "json", WEGENT_API_KEY=key)
    assert with_key.returncode == 0, with_key.stderr
    assert _wegent(local_stack, empty, "tasks", WEGENT_API_KEY=key).returncode == 0
    key_id = next(k["id"] for k in json.loads(with_key.stdout) if k["name"] == "nightly")

    revoked = _wegent(local_stack, config, "keys", "revoke", str(key_id))
    assert revoked.returncode == 0 and f"API key {key_id} 'nightly' revoked" in revoked.stdout
    # The key wins over the saved (valid) admin login in `config`: the revoked key is what the API sees.
    refused = _wegent(local_stack, config, "tasks", WEGENT_API_KEY=key)
    assert refused.returncode == 1 and "API key revoked" in refused.stderr and "WEGENT_API_KEY" in refused.stderr
    gone = _wegent(local_stack, config, "keys", "list")
    assert "nightly" not in gone.stdout
    all_keys = _wegent(local_stack, config, "keys", "list", "--all", "--include-revoked")
    assert all_keys.returncode == 0 and "nightly" in all_keys.stdout and "revoked" in all_keys.stdout


@pytest.fixture(autouse=True)
def _no_stray_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEGENT_API_KEY", raising=False)


def test_another_api_process_stops_a_revoked_key_within_the_cache_time(stack_factory) -> None:  # type: ignore[no-untyped-def]
    """Two API processes of one deployment: a key revoked through one stops working on the other (REST within
    WEGENT_AUTH_CACHE_SECONDS, here 1 s, and its socket there is dropped by that process's sweep)."""
    stack = stack_factory("local", WEGENT_AUTH_CACHE_SECONDS="1")
    port = free_port()
    replica = Process(
        f"{stack.name}-api-b",
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        stack.env,
        stack.log_dir,
    )
    other = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{other}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and replica.alive(), replica.tail()
            time.sleep(0.2)
        _, username, headers = _user(stack)
        created = _create_key(stack, headers, "shared")
        key = created["key"]
        on_other = httpx.get(f"{other}/api/v1/users/me", headers={"X-API-Key": key})
        assert on_other.status_code == 200 and on_other.json()["username"] == username  # now cached there

        async def revoke_elsewhere() -> float:
            client = await ChatClient(other, key).connect()
            try:
                revoked = stack.request("DELETE", f"/api/v1/users/me/keys/{created['id']}", headers=headers)
                assert revoked.status_code == 200
                started = time.monotonic()
                await client.wait_for(lambda events: any(n == "auth:error" for n, _ in events), timeout=15)
                return time.monotonic() - started
            finally:
                await client.close()

        assert asyncio.run(revoke_elsewhere()) < 5
        deadline = time.monotonic() + 5
        while httpx.get(f"{other}/api/v1/users/me", headers={"X-API-Key": key}).status_code != 401:
            assert time.monotonic() < deadline, "the other API process still accepts the revoked key"
            time.sleep(0.2)
    finally:
        replica.stop()
