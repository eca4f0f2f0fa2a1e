"""Secrets are encrypted in the database, masked everywhere, and kept when '***' is sent back."""

from __future__ import annotations

from sqlalchemy import text

from tests.api.stack import YAML, bot_stack

BASE = "/api/v1/namespaces/default"


def _raw_spec(name: str) -> str:
    from core.db.session import get_engine

    with get_engine().connect() as conn:
        return conn.execute(text("SELECT spec FROM resources WHERE kind='Model' AND name=:n"), {"n": name}).scalar_one()


def test_api_key_is_never_stored_in_plaintext(client, make_user):
    _, user = make_user()
    client.post(f"{BASE}/apply", content=bot_stack("s", api_key="sk-plaintext-canary"), headers={**user, **YAML})
    raw = _raw_spec("s-model")
    assert "sk-plaintext-canary" not in raw
    assert "enc:v1:t1:" in raw  # the key id travels with the ciphertext


def test_masked_in_responses_and_kept_on_masked_update(client, make_user):
    _, user = make_user()
    client.post(f"{BASE}/apply", content=bot_stack("m", api_key="sk-keep-me"), headers={**user, **YAML})
    doc = client.get(f"{BASE}/models/m-model", headers=user).json()
    assert doc["spec"]["apiKey"] == "***"
    before = _raw_spec("m-model")
    doc["spec"]["model"] = "another"
    updated = client.put(f"{BASE}/models/m-model", json=doc, headers=user)
    assert updated.status_code == 200 and updated.json()["spec"]["apiKey"] == "***"
    assert '"enc:v1:' in _raw_spec("m-model")
    # Same ciphertext: the stored secret was kept, not re-encrypted from the mask.
    import json

    assert json.loads(_raw_spec("m-model"))["apiKey"] == json.loads(before)["apiKey"]

    from core.db.models import Resource
    from core.db.session import get_sessionmaker
    from core.secrets import reveal
    from wegent.crypto import get_keyring

    with get_sessionmaker()() as db:
        row = db.query(Resource).filter_by(kind="Model", name="m-model").one()
        assert reveal("Model", row.spec, get_keyring())["apiKey"] == "sk-keep-me"


def test_masked_value_without_stored_secret_is_422(client, make_user):
    _, user = make_user()
    doc = {"metadata": {"name": "new-model"}, "spec": {"baseUrl": "http://x", "apiKey": "***"}}
    response = client.post(f"{BASE}/models", json=doc, headers=user)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "spec.apiKey"


def test_rotated_keyring_still_decrypts_old_secrets():
    import base64
    import secrets

    from wegent.crypto import Keyring

    old = "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    new = "k2:" + base64.b64encode(secrets.token_bytes(32)).decode()
    token = Keyring.parse(old).encrypt("hunter2")
    rotated = Keyring.parse(f"{new},{old}")
    assert rotated.decrypt(token) == "hunter2"
    assert rotated.encrypt("x").startswith("enc:v1:k2:")


# ---- issue 16, item 7: every secret is treated as one ----------------------------------------------------------


def _ghost(name: str, env_value: str, header_value: str) -> dict:
    return {
        "kind": "Ghost",
        "metadata": {"name": name},
        "spec": {
            "systemPrompt": "You use tools.",
            "mcpServers": {
                "github": {"command": "mcp-github", "args": ["--stdio"], "env": {"GITHUB_TOKEN": env_value}},
                "search": {"url": "https://mcp.example/sse", "headers": {"Authorization": header_value}},
            },
        },
    }


def _raw(kind: str, name: str) -> str:
    from core.db.session import get_engine

    with get_engine().connect() as conn:
        query = text("SELECT spec FROM resources WHERE kind=:k AND name=:n")
        return conn.execute(query, {"k": kind, "n": name}).scalar_one()


def test_mcp_env_and_headers_are_encrypted_masked_and_kept(client, make_user):
    import json

    _, user = make_user()
    created = client.post(f"{BASE}/ghosts", json=_ghost("mcp-g", "ghp_env_canary", "Bearer hdr_canary"), headers=user)
    assert created.status_code == 201, created.text
    raw = _raw("Ghost", "mcp-g")
    assert "ghp_env_canary" not in raw and "hdr_canary" not in raw
    stored = json.loads(raw)["mcpServers"]
    assert stored["github"]["env"]["GITHUB_TOKEN"].startswith("enc:v1:")
    assert stored["search"]["headers"]["Authorization"].startswith("enc:v1:")
    # Masked in responses, LISTs and YAML exports; names stay visible, values do not.
    for body in (
        created.text,
        client.get(f"{BASE}/ghosts/mcp-g", headers=user).text,
        client.get(f"{BASE}/ghosts", headers=user).text,
        client.get(f"{BASE}/ghosts", params={"format": "yaml"}, headers=user).text,
    ):
        assert "ghp_env_canary" not in body and "hdr_canary" not in body and "GITHUB_TOKEN" in body
    doc = client.get(f"{BASE}/ghosts/mcp-g", headers=user).json()
    assert doc["spec"]["mcpServers"]["github"]["env"] == {"GITHUB_TOKEN": "***"}
    assert doc["spec"]["mcpServers"]["search"]["headers"] == {"Authorization": "***"}
    # Sending the export back keeps the stored secrets (re-apply is unchanged).
    exported = client.get(f"{BASE}/ghosts/mcp-g", params={"format": "yaml"}, headers=user).text
    again = client.post(f"{BASE}/apply", content=exported, headers={**user, **YAML})
    assert again.json()["results"][0]["result"] == "unchanged", again.text
    assert json.loads(_raw("Ghost", "mcp-g")) == json.loads(raw)

    from core.db.models import Resource
    from core.db.session import get_sessionmaker
    from core.secrets import reveal
    from wegent.crypto import get_keyring

    with get_sessionmaker()() as db:
        row = db.query(Resource).filter_by(kind="Ghost", name="mcp-g").one()
        servers = reveal("Ghost", row.spec, get_keyring())["mcpServers"]
    assert servers["github"]["env"]["GITHUB_TOKEN"] == "ghp_env_canary"
    assert servers["search"]["headers"]["Authorization"] == "Bearer hdr_canary"
    # A masked value with nothing stored under that name is refused, naming it.
    fresh = _ghost("mcp-h", "***", "Bearer x")
    refused = client.post(f"{BASE}/ghosts", json=fresh, headers=user)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "spec.mcpServers.github.env.GITHUB_TOKEN"


def test_credentials_in_a_git_url_are_refused_pointing_at_the_token_field(client, make_user):
    _, user = make_user()
    for url in (
        "https://alice:ghp_url_canary@git.example/org/repo.git",
        "https://ghp_url_canary@git.example/org/repo.git",
        "ssh://git:ghp_url_canary@git.example/org/repo.git",
    ):
        doc = {"kind": "Workspace", "metadata": {"name": "ws-creds"}, "spec": {"repository": {"gitUrl": url}}}
        for response in (
            client.post(f"{BASE}/workspaces", json=doc, headers=user),
            client.post(f"{BASE}/apply", json=[doc], headers=user),
        ):
            assert response.status_code == 422, (url, response.text)
            assert "ghp_url_canary" not in response.text
            body = response.json()
            errors = body["errors"] if "errors" in body else body["results"][0]["errors"]
            assert errors[0]["field"] == "spec.repository.gitUrl"
            assert "spec.repository.token" in errors[0]["message"]
    # Without credentials (and ssh's user name, which is not a secret) it is accepted.
    for name, url in (("ws-ok", "https://git.example/org/repo.git"), ("ws-ssh", "ssh://git@git.example/org/r.git")):
        doc = {"kind": "Workspace", "metadata": {"name": name}, "spec": {"repository": {"gitUrl": url, "token": "t"}}}
        assert client.post(f"{BASE}/workspaces", json=doc, headers=user).status_code == 201
