"""CRUD per kind, validation errors, references, versions, public fallback, YAML export."""

from __future__ import annotations

import pytest
import yaml

from tests.api.stack import YAML, bot_stack

BASE = "/api/v1/namespaces/default"

VALID_SPECS = {
    "ghosts": {"systemPrompt": "Be brief."},
    "models": {"provider": "anthropic", "baseUrl": "https://example.invalid", "model": "m", "apiKey": "k"},
    "shells": {"shellType": "Agno", "resources": {"cpu": 1, "memory": "512m", "pids": 128}},
    "workspaces": {"repository": {"gitUrl": "https://git.example.invalid/repo.git", "branch": "dev"}},
}


@pytest.mark.parametrize("kinds", sorted(VALID_SPECS))
def test_crud_roundtrip_for_leaf_kinds(client, make_user, kinds):
    _, user = make_user()
    doc = {"metadata": {"name": "one", "displayName": "One"}, "spec": VALID_SPECS[kinds]}
    created = client.post(f"{BASE}/{kinds}", json=doc, headers=user)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["resourceVersion"] == "1"
    assert client.post(f"{BASE}/{kinds}", json=doc, headers=user).status_code == 409

    listed = client.get(f"{BASE}/{kinds}", headers=user).json()["items"]
    assert [d["metadata"]["name"] for d in listed] == ["one"]

    changed = created.json()
    changed["metadata"]["labels"] = {"env": "prod"}
    updated = client.put(f"{BASE}/{kinds}/one", json=changed, headers=user)
    assert updated.status_code == 200, updated.text
    assert updated.json()["metadata"]["resourceVersion"] == "2"
    assert updated.json()["metadata"]["labels"] == {"env": "prod"}

    assert client.delete(f"{BASE}/{kinds}/one", headers=user).status_code == 200
    assert client.get(f"{BASE}/{kinds}/one", headers=user).status_code == 404


def test_crud_for_referring_kinds(client, make_user):
    _, user = make_user()
    assert client.post(f"{BASE}/apply", content=bot_stack("c"), headers={**user, **YAML}).json()["applied"]
    task = {"metadata": {"name": "t1"}, "spec": {"teamRef": {"name": "c-team"}, "prompt": "hello"}}
    assert client.post(f"{BASE}/tasks", json=task, headers=user).status_code == 201
    schedule = {
        "metadata": {"name": "daily"},
        "spec": {
            "teamRef": {"name": "c-team"},
            "promptTemplate": "report {{date}}",
            "cron": "0 9 * * 1-5",
            "timezone": "Asia/Shanghai",
        },
    }
    assert client.post(f"{BASE}/schedules", json=schedule, headers=user).status_code == 201
    for kinds, name in (("bots", "c-bot"), ("teams", "c-team"), ("tasks", "t1"), ("schedules", "daily")):
        assert client.get(f"{BASE}/{kinds}/{name}", headers=user).status_code == 200
    # Deleting the schedule also removes its Temporal Schedule (it would otherwise keep firing).
    assert client.delete(f"{BASE}/schedules/daily", headers=user).status_code == 200


def test_stale_resource_version_is_a_conflict(client, make_user):
    _, user = make_user()
    doc = client.post(
        f"{BASE}/ghosts", json={"metadata": {"name": "g"}, "spec": {"systemPrompt": "a"}}, headers=user
    ).json()
    first = {**doc, "spec": {"systemPrompt": "b"}}
    assert client.put(f"{BASE}/ghosts/g", json=first, headers=user).status_code == 200
    second = {**doc, "spec": {"systemPrompt": "c"}}  # still carries resourceVersion 1
    response = client.put(f"{BASE}/ghosts/g", json=second, headers=user)
    assert response.status_code == 409
    assert "stale" in response.json()["detail"]
    assert client.get(f"{BASE}/ghosts/g", headers=user).json()["spec"]["systemPrompt"] == "b"


def test_validation_errors_name_the_field(client, make_user):
    _, user = make_user()
    cases = [
        ({"metadata": {"name": "Bad_Name"}, "spec": {"systemPrompt": "x"}}, "ghosts", "metadata.name"),
        ({"metadata": {"name": "g"}, "spec": {}}, "ghosts", "spec.systemPrompt"),
        ({"metadata": {"name": "g"}, "spec": {"systemPrompt": "x", "tempreture": 1}}, "ghosts", "spec.tempreture"),
        (
            {"metadata": {"name": "m"}, "spec": {"baseUrl": "http://x", "temperature": "hot"}},
            "models",
            "spec.temperature",
        ),
        ({"metadata": {"name": "s"}, "spec": {"shellType": "Bash"}}, "shells", "spec.shellType"),
        (
            {
                "metadata": {"name": "s"},
                "spec": {"teamRef": {"name": "t"}, "promptTemplate": "x", "cron": "61 * * * *"},
            },
            "schedules",
            "spec.cron",
        ),
        (
            {
                "metadata": {"name": "s"},
                "spec": {"teamRef": {"name": "t"}, "promptTemplate": "x", "interval": "5m", "timezone": "Mars/Olympus"},
            },
            "schedules",
            "spec.timezone",
        ),
    ]
    for doc, kinds, field in cases:
        response = client.post(f"{BASE}/{kinds}", json=doc, headers=user)
        assert response.status_code == 422, (doc, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())


def test_unknown_kind_and_bad_namespace_are_4xx(client, make_user):
    _, user = make_user()
    assert client.get(f"{BASE}/gadgets", headers=user).status_code == 404
    assert client.get("/api/v1/namespaces/Not_Valid/ghosts", headers=user).status_code == 422


def test_missing_reference_is_rejected(client, make_user):
    _, user = make_user()
    bot = {
        "metadata": {"name": "b"},
        "spec": {"ghostRef": {"name": "nope"}, "shellRef": {"name": "nope"}, "modelRef": {"name": "nope"}},
    }
    response = client.post(f"{BASE}/bots", json=bot, headers=user)
    assert response.status_code == 422
    assert "Ghost 'default/nope' does not exist" in [e["message"] for e in response.json()["errors"]]


def test_delete_of_referenced_resource_names_the_referrers(client, make_user):
    _, user = make_user()
    client.post(f"{BASE}/apply", content=bot_stack("d"), headers={**user, **YAML})
    response = client.delete(f"{BASE}/bots/d-bot", headers=user)
    assert response.status_code == 409
    assert "Team 'default/d-team'" in response.json()["detail"]
    assert response.json()["referrers"] == ["Team 'default/d-team'"]  # a list a client can show as one
    assert client.delete(f"{BASE}/bots/d-bot", params={"force": "true"}, headers=user).status_code == 200


def test_public_resources_are_readable_by_all_and_a_fallback(client, admin_headers, make_user):
    ghost = {"metadata": {"name": "shared-ghost"}, "spec": {"systemPrompt": "public"}}
    created = client.post(f"{BASE}/ghosts", json=ghost, params={"scope": "public"}, headers=admin_headers)
    assert created.status_code == 201 and created.json()["metadata"]["public"] is True
    _, user = make_user()
    seen = client.get(f"{BASE}/ghosts/shared-ghost", headers=user).json()
    assert seen["metadata"]["public"] is True
    # A user's bot may reference the public ghost...
    client.post(f"{BASE}/apply", content=bot_stack("e"), headers={**user, **YAML})
    bot = {
        "metadata": {"name": "pub-bot"},
        "spec": {
            "ghostRef": {"name": "shared-ghost"},
            "shellRef": {"name": "e-shell"},
            "modelRef": {"name": "e-model"},
        },
    }
    assert client.post(f"{BASE}/bots", json=bot, headers=user).status_code == 201
    # ...but cannot change or delete it.
    assert (
        client.put(f"{BASE}/ghosts/shared-ghost", json=ghost, params={"scope": "public"}, headers=user).status_code
        == 403
    )
    assert client.delete(f"{BASE}/ghosts/shared-ghost", params={"scope": "public"}, headers=user).status_code == 403
    # The admin cannot delete it while the user's bot falls back to it.
    response = client.delete(f"{BASE}/ghosts/shared-ghost", params={"scope": "public"}, headers=admin_headers)
    assert response.status_code == 409 and "Bot 'default/pub-bot'" in response.json()["detail"]
    # An own resource of the same name shadows the public one.
    own = {"metadata": {"name": "shared-ghost"}, "spec": {"systemPrompt": "mine"}}
    assert client.post(f"{BASE}/ghosts", json=own, headers=user).status_code == 201
    assert client.get(f"{BASE}/ghosts/shared-ghost", headers=user).json()["spec"]["systemPrompt"] == "mine"


def test_yaml_export_masks_secrets(client, make_user):
    _, user = make_user()
    client.post(f"{BASE}/apply", content=bot_stack("f", api_key="sk-very-secret"), headers={**user, **YAML})
    response = client.get(f"{BASE}/models/f-model", params={"format": "yaml"}, headers=user)
    assert response.headers["content-type"].startswith("application/yaml")
    doc = yaml.safe_load(response.text)
    assert doc["kind"] == "Model" and doc["spec"]["apiKey"] == "***"
    assert "sk-very-secret" not in response.text
