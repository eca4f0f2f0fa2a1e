"""Issue 16, item 11: Socket.IO origin checks, minimum key and password lengths, a private admin_password file,
executor tokens under a key of their own."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.stack import ROOT
from wegent.config import MIN_PASSWORD_LENGTH, get_settings

POLL = "/socket.io/?EIO=4&transport=polling"


def test_socketio_refuses_a_foreign_origin(client):
    refused = client.get(POLL, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 400
    assert "not an accepted origin" in refused.text
    # The page's own origin and clients that send none (the CLI, servers) still connect.
    assert client.get(POLL, headers={"Origin": "http://testserver"}).status_code == 200
    assert client.get(POLL).status_code == 200


def _start_api(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the API as uvicorn would; a bad setting must stop it with a message before it serves."""
    return subprocess.run(
        [sys.executable, "-c", "import api.main"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_short_secret_key_or_admin_password_stops_the_api_without_printing_it():
    short_key = "k" * 31
    result = _start_api({"WEGENT_SECRET_KEY": short_key})
    assert result.returncode != 0
    assert "WEGENT_SECRET_KEY must have at least 32 characters" in result.stderr
    assert short_key not in result.stderr + result.stdout

    short_password = "pw-" + "x" * (MIN_PASSWORD_LENGTH - 4)
    result = _start_api({"WEGENT_ADMIN_PASSWORD": short_password})
    assert result.returncode != 0
    assert f"WEGENT_ADMIN_PASSWORD must have at least {MIN_PASSWORD_LENGTH} characters" in result.stderr
    assert short_password not in result.stderr + result.stdout


def test_user_passwords_have_a_minimum_length(client, admin_headers):
    short = "x" * (MIN_PASSWORD_LENGTH - 1)
    response = client.post("/api/v1/admin/users", json={"username": "shorty", "password": short}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
    created = client.post(
        "/api/v1/admin/users", json={"username": "longer", "password": short + "y"}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    change = client.patch(
        f"/api/v1/admin/users/{created.json()['id']}", json={"password": short}, headers=admin_headers
    )
    assert change.status_code == 422
    assert change.json()["detail"][0]["loc"] == ["body", "password"]


def test_generated_admin_password_is_private_and_never_written_through_a_symlink(tmp_path: Path):
    state = tmp_path / "state"
    state.mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("untouched")
    elsewhere.chmod(0o644)
    (state / "admin_password").symlink_to(elsewhere)
    env = {k: v for k, v in os.environ.items() if k != "WEGENT_ADMIN_PASSWORD"}
    env.update({"WEGENT_STATE_DIR": str(state), "WEGENT_ADMIN_USERNAME": f"adm{uuid.uuid4().hex[:8]}"})
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; os.umask(0o022)\nfrom core.db.bootstrap import bootstrap_database\nbootstrap_database()",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    saved = state / "admin_password"
    assert not saved.is_symlink()
    assert saved.stat().st_mode & 0o777 == 0o600
    assert saved.read_text() in result.stderr  # the printed, generated password
    assert elsewhere.read_text() == "untouched"
    assert [p.name for p in state.iterdir()] == ["admin_password"]  # no temporary file left behind


def test_executor_tokens_are_not_macs_under_the_jwt_key():
    from activities.tokens import executor_token

    secret = get_settings().jwt_secret.encode()
    token = executor_token("task-1")
    assert token == executor_token("task-1") and token != executor_token("task-2")
    for message in (b"executor:task-1", b"task-1"):
        assert token != hmac.new(secret, message, hashlib.sha256).hexdigest()
