"""Monthly budgets: a user over budget gets a 429 naming the limit, a running pipeline stops at its next step,
and an admin's new limit lets work start again."""

from __future__ import annotations

import uuid

from tests.e2e.teams import team_yaml


def _user(stack):  # type: ignore[no-untyped-def]
    username, password = "q" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex
    made = stack.request("POST", "/api/v1/admin/users", json={"username": username, "password": password})
    assert made.status_code == 201, made.text
    return made.json()["id"], stack.login(username, password)


def test_a_token_budget_refuses_new_work_and_stops_a_pipeline_at_its_next_step(local_stack, model):
    stack = local_stack
    user_id, user = _user(stack)
    prefix = "qb" + uuid.uuid4().hex[:6]
    stack.apply(
        team_yaml(prefix, model.openai_base_url, [{"bot": "one"}, {"bot": "two"}], collaboration="pipeline"),
        headers=user,
    )
    quota = stack.request("PUT", f"/api/v1/admin/users/{user_id}/quota", json={"monthlyTokens": 5})
    assert quota.status_code == 200, quota.text
    assert quota.json()["tokens"] == {"used": 0, "limit": 5} and quota.json()["exceeded"] is None

    # The first stage's answer crosses the budget: the model gateway stops its stream mid-way, and no stage
    # calls the model again.
    model.script([{"match": "*", "text": "a long enough first answer to use the budget"}])
    task = stack.create_task(f"{prefix}-team", "go over budget", headers=user)
    done = stack.wait_state(task["id"], {"COMPLETED", "FAILED"}, timeout=90)
    assert done["state"] == "FAILED", done
    assert "monthly token budget of 5 reached" in done["error"]
    assert len(model.requests()) == 1

    mine = stack.request("GET", "/api/v1/users/me/quota", headers=user).json()
    assert mine["tokens"]["limit"] == 5 and mine["tokens"]["used"] >= 5
    assert "monthly token budget of 5 reached" in mine["exceeded"]

    refused = stack.request(
        "POST", "/api/v1/tasks", headers=user, json={"team": {"name": f"{prefix}-team"}, "prompt": "more"}
    )
    assert refused.status_code == 429, refused.text
    assert "monthly token budget of 5 reached" in refused.json()["detail"]
    retry = stack.request("POST", f"/api/v1/tasks/{task['id']}/retry", headers=user, json={})
    assert retry.status_code == 429

    # An admin raises the limit: work starts again, and the retry continues from the failed stage.
    raised = stack.request("PUT", f"/api/v1/admin/users/{user_id}/quota", json={"monthlyTokens": 100000})
    assert raised.status_code == 200 and raised.json()["exceeded"] is None
    assert stack.request("POST", f"/api/v1/tasks/{task['id']}/retry", headers=user, json={}).status_code == 202
    again = stack.wait_state(task["id"], {"COMPLETED", "FAILED"}, timeout=90)
    assert again["state"] == "COMPLETED", again["error"]
    assert len(model.requests()) == 3  # the stage the gateway stopped ran again, then the second one

    # Only admins set budgets.
    assert stack.request("PUT", f"/api/v1/admin/users/{user_id}/quota", headers=user, json={}).status_code == 403


def test_tasks_over_a_users_running_limit_wait_visibly_then_run(local_stack, model):
    import time

    stack = local_stack
    user_id, user = _user(stack)
    prefix = "qr" + uuid.uuid4().hex[:6]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "one"}], collaboration="solo"), headers=user)
    limit = stack.request("PUT", f"/api/v1/admin/users/{user_id}/quota", json={"maxRunningTasks": 1})
    assert limit.status_code == 200 and limit.json()["runningTasks"]["limit"] == 1
    model.script([{"match": "hold", "text": "holding the slot", "stall": True}])

    first = stack.create_task(f"{prefix}-team", "hold the slot", headers=user)
    stack.wait_state(first["id"], {"RUNNING"})
    second = stack.create_task(f"{prefix}-team", "hold it too", headers=user)
    deadline = time.monotonic() + 60
    while "waiting for a slot" not in (stack.task(second["id"]).get("error") or ""):
        assert time.monotonic() < deadline, stack.task(second["id"])
        time.sleep(0.3)
    waiting = stack.task(second["id"])
    assert waiting["state"] == "PENDING" and "your limit is 1" in waiting["error"]
    time.sleep(2)
    assert len(model.requests()) == 1  # the second task has not reached its model
    quota = stack.request("GET", "/api/v1/users/me/quota", headers=user).json()
    assert quota["runningTasks"] == {"used": 1, "limit": 1}

    assert stack.request("POST", f"/api/v1/tasks/{first['id']}/cancel", headers=user).status_code == 202
    stack.wait_state(second["id"], {"RUNNING"}, timeout=90)  # the freed slot goes to the waiting task
    deadline = time.monotonic() + 60
    while len(model.requests()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert stack.task(second["id"])["error"] is None
    assert stack.request("POST", f"/api/v1/tasks/{second['id']}/cancel", headers=user).status_code == 202
