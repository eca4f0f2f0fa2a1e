"""The fast read path stays exact: cached LISTs follow every write, and account changes apply at once.

The API keeps rendered LIST responses per process (validated by the owners' generations) and remembers the
account behind a token for a few seconds; these tests prove that neither ever shows a user something the
database no longer says.
"""

from __future__ import annotations

from sqlalchemy import select

from api.services.list_cache import list_cache
from core import schedules
from core.db.models import Resource, User
from core.db.session import get_sessionmaker
from tests.api.stack import YAML, bot_stack

BASE = "/api/v1/namespaces/default"


def names_and_versions(client, headers, kinds="ghosts") -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = client.get(f"{BASE}/{kinds}", headers=headers)
    assert response.status_code == 200, response.text
    return {d["metadata"]["name"]: d["metadata"]["resourceVersion"] for d in response.json()["items"]}


def ghost(name: str, prompt: str = "Be brief.") -> dict:
    return {"metadata": {"name": name}, "spec": {"systemPrompt": prompt}}


def test_list_follows_creates_updates_and_deletes_at_once(client, make_user):
    _, user = make_user()
    assert names_and_versions(client, user) == {}
    assert client.post(f"{BASE}/ghosts", json=ghost("a"), headers=user).status_code == 201
    assert names_and_versions(client, user) == {"a": "1"}
    hits = list_cache().hits
    assert names_and_versions(client, user) == {"a": "1"}
    assert list_cache().hits == hits + 1  # nothing changed: served from the cache

    current = client.get(f"{BASE}/ghosts/a", headers=user).json()
    current["spec"]["systemPrompt"] = "Be thorough."
    assert client.put(f"{BASE}/ghosts/a", json=current, headers=user).status_code == 200
    listed = client.get(f"{BASE}/ghosts", headers=user).json()["items"]
    assert [(d["metadata"]["resourceVersion"], d["spec"]["systemPrompt"]) for d in listed] == [("2", "Be thorough.")]

    assert client.post(f"{BASE}/ghosts", json=ghost("b"), headers=user).status_code == 201
    assert client.delete(f"{BASE}/ghosts/a", headers=user).status_code == 200
    assert names_and_versions(client, user) == {"b": "1"}
    # Pages and formats are cached apart.
    assert client.get(f"{BASE}/ghosts?offset=1", headers=user).json()["items"] == []
    assert "name: b" in client.get(f"{BASE}/ghosts?format=yaml", headers=user).text


def test_a_public_change_shows_in_every_users_list(client, admin_headers, make_user):
    _, alice = make_user()
    _, bob = make_user()
    public = f"{BASE}/ghosts?scope=public"
    assert client.post(public, json=ghost("shared-read-path"), headers=admin_headers).status_code == 201
    for user in (alice, bob):
        assert names_and_versions(client, user)["shared-read-path"] == "1"
    current = client.get(f"{BASE}/ghosts/shared-read-path?scope=public", headers=admin_headers).json()
    current["spec"]["systemPrompt"] = "Changed for everyone."
    updated = client.put(f"{BASE}/ghosts/shared-read-path?scope=public", json=current, headers=admin_headers)
    assert updated.status_code == 200, updated.text
    for user in (alice, bob):
        assert names_and_versions(client, user)["shared-read-path"] == "2"
    assert client.delete(f"{BASE}/ghosts/shared-read-path?scope=public", headers=admin_headers).status_code == 200
    for user in (alice, bob):
        assert "shared-read-path" not in names_and_versions(client, user)


def test_one_users_writes_leave_another_users_cached_list_valid(client, make_user):
    _, alice = make_user()
    _, bob = make_user()
    assert client.post(f"{BASE}/ghosts", json=ghost("mine"), headers=alice).status_code == 201
    assert names_and_versions(client, alice) == {"mine": "1"}
    assert client.post(f"{BASE}/ghosts", json=ghost("bobs"), headers=bob).status_code == 201
    hits = list_cache().hits
    assert names_and_versions(client, alice) == {"mine": "1"}
    assert list_cache().hits == hits + 1


def test_writes_from_another_process_are_seen_by_the_next_list(client, make_user):
    """Another API replica or a worker writes through its own session: the generation moves with it."""
    user_id, user = make_user()
    assert client.post(f"{BASE}/ghosts", json=ghost("elsewhere"), headers=user).status_code == 201
    assert names_and_versions(client, user) == {"elsewhere": "1"}
    with get_sessionmaker()() as db:  # not through this API's request path
        row = db.scalar(select(Resource).where(Resource.owner_id == user_id, Resource.name == "elsewhere"))
        assert row is not None
        row.spec = {"systemPrompt": "edited by another process"}
        db.commit()
    listed = client.get(f"{BASE}/ghosts", headers=user).json()["items"]
    assert [(d["metadata"]["resourceVersion"], d["spec"]["systemPrompt"]) for d in listed] == [
        ("2", "edited by another process")
    ]
    with get_sessionmaker()() as db:
        db.delete(db.scalar(select(Resource).where(Resource.owner_id == user_id, Resource.name == "elsewhere")))
        db.commit()
    assert names_and_versions(client, user) == {}


def test_a_schedule_status_write_shows_in_the_list(client, make_user):
    """Status is written with a Core UPDATE (it bumps no resourceVersion) and must still move the generation."""
    user_id, user = make_user()
    assert client.post(f"{BASE}/apply", content=bot_stack("rp"), headers={**user, **YAML}).json()["applied"]
    schedule = {
        "metadata": {"name": "nightly"},
        "spec": {"teamRef": {"name": "rp-team"}, "promptTemplate": "report", "cron": "0 3 * * *"},
    }
    assert client.post(f"{BASE}/schedules", json=schedule, headers=user).status_code == 201
    before = client.get(f"{BASE}/schedules", headers=user).json()["items"][0]["status"]
    with get_sessionmaker()() as db:
        row = db.scalar(select(Resource).where(Resource.owner_id == user_id, Resource.kind == "Schedule"))
        assert row is not None
        generation = db.get(User, user_id).resource_generation  # type: ignore[union-attr]
        schedules._write_status(db, row.id, {**before, "message": "written by the reconciler"})
        db.expire_all()
        assert db.get(User, user_id).resource_generation == generation + 1  # type: ignore[union-attr]
    after = client.get(f"{BASE}/schedules", headers=user).json()["items"][0]
    assert after["status"]["message"] == "written by the reconciler"
    assert after["metadata"]["resourceVersion"] == "1"
    assert client.delete(f"{BASE}/schedules/nightly", headers=user).status_code == 200


def test_an_account_disabled_by_an_admin_is_refused_at_once(client, admin_headers, make_user):
    user_id, user = make_user()
    assert client.get("/api/v1/users/me", headers=user).status_code == 200  # the token is now remembered
    assert client.get(f"{BASE}/ghosts", headers=user).status_code == 200
    response = client.patch(f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=admin_headers)
    assert response.status_code == 200
    assert client.get("/api/v1/users/me", headers=user).status_code == 401
    assert client.get(f"{BASE}/ghosts", headers=user).status_code == 401
    client.patch(f"/api/v1/admin/users/{user_id}", json={"is_active": True}, headers=admin_headers)
    # Re-enabled, the account may sign in again; the tokens issued before the disable stay revoked (issue 16).
    again = client.get("/api/v1/users/me", headers=user)
    assert again.status_code == 401 and again.json()["detail"] == "token revoked; sign in again"


def test_a_promoted_user_gets_admin_powers_at_once(client, admin_headers, make_user):
    user_id, user = make_user()
    assert client.get("/api/v1/admin/users", headers=user).status_code == 403
    client.patch(f"/api/v1/admin/users/{user_id}", json={"role": "admin"}, headers=admin_headers)
    assert client.get("/api/v1/admin/users", headers=user).status_code == 200
