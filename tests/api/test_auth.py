"""Login, tokens, roles and per-user scoping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from tests.api.stack import YAML, bot_stack


def test_login_rejects_bad_password(client):
    response = client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"})
    assert response.status_code == 401
    assert response.json()["detail"] == "incorrect username or password"


def test_login_missing_field_names_it(client):
    response = client.post("/api/v1/auth/login", json={"username": "admin"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


def test_me_requires_a_token(client):
    assert client.get("/api/v1/users/me").status_code == 401


def test_me_returns_the_caller(client, admin_headers):
    body = client.get("/api/v1/users/me", headers=admin_headers).json()
    assert body["username"] == "admin" and body["role"] == "admin"


def test_expired_token_is_refused(client, admin_headers):
    from wegent.config import get_settings

    me = client.get("/api/v1/users/me", headers=admin_headers).json()
    past = datetime.now(UTC) - timedelta(minutes=5)
    token = jwt.encode({"sub": str(me["id"]), "role": "admin", "exp": past}, get_settings().jwt_secret, "HS256")
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired"


def test_forged_token_is_refused(client):
    token = jwt.encode({"sub": "1", "exp": datetime.now(UTC) + timedelta(hours=1)}, "not-the-key", "HS256")
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_users_cannot_see_or_change_each_others_resources(client, make_user):
    _, alice = make_user()
    _, bob = make_user()
    assert client.post("/api/v1/namespaces/default/apply", content=bot_stack("a"), headers={**alice, **YAML}).json()[
        "applied"
    ]
    assert client.get("/api/v1/namespaces/default/ghosts/a-ghost", headers=bob).status_code == 404
    assert client.get("/api/v1/namespaces/default/ghosts", headers=bob).json()["items"] == []
    update = {"kind": "Ghost", "metadata": {"name": "a-ghost"}, "spec": {"systemPrompt": "hijacked"}}
    assert client.put("/api/v1/namespaces/default/ghosts/a-ghost", json=update, headers=bob).status_code == 404
    assert client.delete("/api/v1/namespaces/default/ghosts/a-ghost", headers=bob).status_code == 404
    # Bob's bot cannot reference Alice's ghost either.
    bot = {
        "kind": "Bot",
        "metadata": {"name": "b-bot"},
        "spec": {"ghostRef": {"name": "a-ghost"}, "shellRef": {"name": "a-shell"}, "modelRef": {"name": "a-model"}},
    }
    response = client.post("/api/v1/namespaces/default/bots", json=bot, headers=bob)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"spec.ghostRef", "spec.shellRef", "spec.modelRef"}
    # Alice still has hers, untouched.
    ghost = client.get("/api/v1/namespaces/default/ghosts/a-ghost", headers=alice).json()
    assert ghost["spec"]["systemPrompt"] == "You are helpful."


def test_only_admins_manage_users(client, make_user):
    _, user = make_user()
    assert client.get("/api/v1/admin/users", headers=user).status_code == 403
    body = {"username": "mallory", "password": "password123"}
    assert client.post("/api/v1/admin/users", json=body, headers=user).status_code == 403


def test_admin_creates_disables_and_deletes_users(client, admin_headers):
    created = client.post(
        "/api/v1/admin/users", json={"username": "carol", "password": "carol-pass-1"}, headers=admin_headers
    )
    assert created.status_code == 201
    user_id = created.json()["id"]
    again = client.post(
        "/api/v1/admin/users", json={"username": "carol", "password": "carol-pass-1"}, headers=admin_headers
    )
    assert again.status_code == 409
    assert client.post("/api/v1/auth/login", json={"username": "carol", "password": "carol-pass-1"}).status_code == 200
    client.patch(f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=admin_headers)
    assert client.post("/api/v1/auth/login", json={"username": "carol", "password": "carol-pass-1"}).status_code == 401
    assert client.delete(f"/api/v1/admin/users/{user_id}", headers=admin_headers).status_code == 204
    assert all(u["username"] != "carol" for u in client.get("/api/v1/admin/users", headers=admin_headers).json())


def test_short_password_is_refused_naming_the_field(client, admin_headers):
    response = client.post("/api/v1/admin/users", json={"username": "dave", "password": "x"}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
