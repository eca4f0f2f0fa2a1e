"""Issue 16, item 3 (part): the local backend runs agents unsandboxed, next to the platform's keys and
database, so a deployment with more than one active user refuses it unless WEGENT_ALLOW_UNSANDBOXED says
otherwise (the rest of the suite runs with it set, knowingly)."""

from __future__ import annotations

import uuid

from tests.e2e.teams import team_yaml


def test_a_shared_deployment_refuses_unsandboxed_agents(stack_factory_module, model):  # type: ignore[no-untyped-def]
    stack = stack_factory_module("local", WEGENT_ALLOW_UNSANDBOXED="0")
    second = {"username": f"o{uuid.uuid4().hex[:8]}", "password": "pw-" + uuid.uuid4().hex}
    assert stack.request("POST", "/api/v1/admin/users", json=second).status_code == 201  # now two people at least
    prefix = "u" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "solo"}], collaboration="solo"))
    created = stack.create_task(f"{prefix}-team", "hello")
    task = stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=60)
    assert task["state"] == "FAILED"
    assert "unsandboxed" in task["error"] and "WEGENT_ALLOW_UNSANDBOXED" in task["error"]
    assert model.requests() == []  # no agent ran
