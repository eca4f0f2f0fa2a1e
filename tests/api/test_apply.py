"""Multi-document apply: ordering, idempotence, round trip, all-or-nothing with per-document reports."""

from __future__ import annotations

import yaml

from tests.api.stack import YAML, bot_stack

APPLY = "/api/v1/namespaces/default/apply"


def test_apply_creates_in_dependency_order_then_is_idempotent(client, make_user):
    _, user = make_user()
    first = client.post(APPLY, content=bot_stack("a"), headers={**user, **YAML})
    assert first.status_code == 200, first.text
    assert [r["result"] for r in first.json()["results"]] == ["created"] * 5
    second = client.post(APPLY, content=bot_stack("a"), headers={**user, **YAML})
    assert [r["result"] for r in second.json()["results"]] == ["unchanged"] * 5


def test_apply_reports_updates(client, make_user):
    _, user = make_user()
    client.post(APPLY, content=bot_stack("b"), headers={**user, **YAML})
    changed = bot_stack("b").replace("You are helpful.", "You are terse.")
    results = client.post(APPLY, content=changed, headers={**user, **YAML}).json()["results"]
    by_kind = {r["kind"]: r["result"] for r in results}
    assert by_kind == {
        "Team": "unchanged",
        "Bot": "unchanged",
        "Shell": "unchanged",
        "Model": "unchanged",
        "Ghost": "updated",
    }


def test_export_then_apply_round_trip_is_unchanged(client, make_user):
    _, user = make_user()
    client.post(APPLY, content=bot_stack("c"), headers={**user, **YAML})
    exported = []
    for kinds in ("ghosts", "models", "shells", "bots", "teams"):
        exported.append(client.get(f"/api/v1/namespaces/default/{kinds}", params={"format": "yaml"}, headers=user).text)
    text = "---\n".join(exported)
    assert "sk-test-secret-123" not in text
    results = client.post(APPLY, content=text, headers={**user, **YAML}).json()["results"]
    assert [r["result"] for r in results] == ["unchanged"] * 5


def test_apply_json_list(client, make_user):
    _, user = make_user()
    docs = list(yaml.safe_load_all(bot_stack("d")))
    response = client.post(APPLY, json=docs, headers=user)
    assert response.status_code == 200 and response.json()["applied"]


def test_invalid_yaml_is_400_with_position(client, make_user):
    _, user = make_user()
    response = client.post(APPLY, content="kind: Ghost\nmetadata: {name: [", headers={**user, **YAML})
    assert response.status_code == 400
    assert "line 2" in response.json()["detail"]


def test_one_bad_document_applies_nothing_and_names_index_and_field(client, make_user):
    _, user = make_user()
    docs = list(yaml.safe_load_all(bot_stack("e")))
    docs.append({"kind": "Gadget", "metadata": {"name": "x"}, "spec": {}})
    docs.append({"kind": "Ghost", "metadata": {"name": "ok-ghost"}, "spec": {"systemPrompt": 5}})
    response = client.post(APPLY, content=yaml.safe_dump_all(docs), headers={**user, **YAML})
    assert response.status_code == 422
    results = response.json()["results"]
    assert len(results) == 7
    assert results[5]["result"] == "failed" and results[5]["errors"][0]["field"] == "kind"
    assert results[6]["result"] == "failed" and results[6]["errors"][0]["field"] == "spec.systemPrompt"
    assert {r["result"] for r in results[:5]} == {"skipped"}
    assert client.get("/api/v1/namespaces/default/ghosts", headers=user).json()["items"] == []


def test_missing_reference_in_apply_fails_the_whole_apply(client, make_user):
    _, user = make_user()
    text = bot_stack("f").replace("name: f-ghost\n  namespace", "name: f-ghost\n  namespace")
    docs = [d for d in yaml.safe_load_all(text) if d["kind"] != "Ghost"]
    response = client.post(APPLY, content=yaml.safe_dump_all(docs), headers={**user, **YAML})
    assert response.status_code == 422
    failed = [r for r in response.json()["results"] if r["result"] == "failed"]
    assert failed[0]["kind"] == "Bot" and failed[0]["errors"][0]["field"] == "spec.ghostRef"
    assert client.get("/api/v1/namespaces/default/models", headers=user).json()["items"] == []
