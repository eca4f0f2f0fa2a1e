"""Token usage and cost per message, per task, per user and per team, from the Model's prices."""

from __future__ import annotations

import uuid

import pytest
import yaml

from tests.e2e.teams import team_yaml


def test_cost_follows_the_model_price_and_adds_up_per_task_user_and_team(stack_factory, model):
    stack = stack_factory("local")
    name = "cost" + uuid.uuid4().hex[:6]
    password = "pw-" + uuid.uuid4().hex
    assert (
        stack.request("POST", "/api/v1/admin/users", json={"username": name, "password": password}).status_code == 201
    )
    user = stack.login(name, password)
    prefix = "p" + uuid.uuid4().hex[:6]
    docs = list(yaml.safe_load_all(team_yaml(prefix, model.openai_base_url, [{"bot": "a"}, {"bot": "b"}])))
    docs[0]["spec"]["pricing"] = {"inputPer1M": 1000.0, "outputPer1M": 2000.0}
    stack.apply(yaml.safe_dump_all(docs), headers=user)

    tasks = [stack.create_task(f"{prefix}-team", f"count my tokens {i}", headers=user) for i in range(2)]
    done = [stack.wait_state(t["id"], {"COMPLETED", "FAILED"}) for t in tasks]
    assert {t["state"] for t in done} == {"COMPLETED"}
    for task in done:
        answers = [m for m in stack.task(task["id"], headers=user)["messages"] if m["role"] == "assistant"]
        for m in answers:
            u = m["usage"]
            assert u["inputTokens"] > 0 and u["outputTokens"] > 0
            assert u["cost"] == pytest.approx((u["inputTokens"] * 1000 + u["outputTokens"] * 2000) / 1e6)
        assert task["usage"]["inputTokens"] == sum(m["usage"]["inputTokens"] for m in answers)
        assert task["usage"]["cost"] == pytest.approx(sum(m["usage"]["cost"] for m in answers))

    usage = stack.request("GET", "/api/v1/users/me/usage", headers=user).json()
    assert usage["tasks"] == 2
    assert usage["outputTokens"] == sum(t["usage"]["outputTokens"] for t in done)
    assert usage["cost"] == pytest.approx(sum(t["usage"]["cost"] for t in done))
    assert usage["byTeam"] == [
        {
            "team": {"namespace": "default", "name": f"{prefix}-team"},
            "tasks": 2,
            "inputTokens": usage["inputTokens"],
            "outputTokens": usage["outputTokens"],
            "cost": pytest.approx(usage["cost"]),
        }
    ]
    # Admins see everyone's; users cannot.
    assert stack.request("GET", "/api/v1/admin/usage", headers=user).status_code == 403
    everyone = stack.request("GET", "/api/v1/admin/usage").json()
    assert any(row["user"] == name and row["tasks"] == 2 for row in everyone)
