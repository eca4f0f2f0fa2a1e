"""The audit trail: resource writes with their version, task actions, account and key changes, sign-ins."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import yaml

from tests.conftest import ADMIN_PASSWORD
from tests.e2e.teams import team_yaml


def entries(stack, headers, path: str = "/api/v1/users/me/audit", **params) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    response = stack.request("GET", path, headers=headers, params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_every_kind_of_write_and_sign_in_is_audited(local_stack, model, tmp_path):
    stack = local_stack
    username, password = "a" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex
    made = stack.request("POST", "/api/v1/admin/users", json={"username": username, "password": password})
    assert made.status_code == 201, made.text
    bad = stack.request("POST", "/api/v1/auth/login", headers={}, json={"username": username, "password": "nope"})
    assert bad.status_code == 401
    user = stack.login(username, password)

    # Resources: created by apply, updated by PUT, deleted; a failed apply leaves nothing.
    prefix = "au" + uuid.uuid4().hex[:6]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "scribe"}], collaboration="solo"), headers=user)
    ghost_path = f"/api/v1/namespaces/default/ghosts/{prefix}-scribe"
    ghost = stack.request("GET", ghost_path, headers=user).json()
    ghost["spec"]["systemPrompt"] = "You are careful."
    assert stack.request("PUT", ghost_path, headers=user, json=ghost).status_code == 200
    extra = {"kind": "Ghost", "metadata": {"name": f"{prefix}-extra"}, "spec": {"systemPrompt": "x"}}
    assert stack.request("POST", "/api/v1/namespaces/default/ghosts", headers=user, json=extra).status_code == 201
    assert stack.request("DELETE", f"/api/v1/namespaces/default/ghosts/{prefix}-extra", headers=user).status_code == 200
    broken = yaml.safe_dump_all(
        [
            {"kind": "Ghost", "metadata": {"name": f"{prefix}-never"}, "spec": {"systemPrompt": "ok"}},
            {"kind": "Bot", "metadata": {"name": f"{prefix}-bad"}, "spec": {"ghostRef": {"name": "missing"}}},
        ]
    )
    failed = stack.request(
        "POST", "/api/v1/namespaces/default/apply", headers={**user, "Content-Type": "application/yaml"}, content=broken
    )
    assert failed.status_code in (200, 422) and failed.json().get("applied") is not True

    # Tasks: create, follow-up, cancel, delete.
    task = stack.create_task(f"{prefix}-team", "first words", headers=user)
    stack.wait_state(task["id"], {"COMPLETED"})
    follow = stack.request("POST", f"/api/v1/tasks/{task['id']}/messages", headers=user, json={"message": "more"})
    assert follow.status_code == 202, follow.text
    stack.wait_state(task["id"], {"COMPLETED"})
    model.script([{"match": "hang", "text": "stalling", "stall": True}])
    hung = stack.create_task(f"{prefix}-team", "hang here", headers=user)
    deadline = time.monotonic() + 60
    while stack.task(hung["id"])["state"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert stack.request("POST", f"/api/v1/tasks/{hung['id']}/cancel", headers=user).status_code == 202
    assert stack.request("DELETE", f"/api/v1/tasks/{task['id']}", headers=user).status_code == 204

    # Keys, and an admin's change to the account.
    key = stack.request("POST", "/api/v1/users/me/keys", headers=user, json={"name": "ci"}).json()
    assert stack.request("DELETE", f"/api/v1/users/me/keys/{key['id']}", headers=user).status_code in (200, 204)
    user_id = made.json()["id"]
    mine = entries(stack, user)
    assert stack.request("GET", "/api/v1/admin/audit", headers=user).status_code == 403
    assert stack.request("PATCH", f"/api/v1/admin/users/{user_id}", json={"is_active": False}).status_code == 200

    actions = [(e["action"], e["target"]) for e in reversed(mine)]  # oldest first
    assert actions[:2] == [("auth.login_failed", f"user/{username}"), ("auth.login", f"user/{username}")]
    assert mine[-1]["address"] == "127.0.0.1" and mine[-1]["actor"] == username
    created = {t for a, t in actions if a == "resource.create"}
    assert f"Ghost/default/{prefix}-scribe" in created and f"Team/default/{prefix}-team" in created
    assert f"Ghost/default/{prefix}-never" not in created  # the failed apply was rolled back, entries too
    update = next(e for e in mine if e["action"] == "resource.update")
    assert update["target"] == f"Ghost/default/{prefix}-scribe" and update["detail"]["resourceVersion"] == 2
    assert (
        next(e for e in mine if e["action"] == "resource.create" and "scribe" in e["target"])["detail"]["via"]
        == "apply"
    )
    assert ("resource.delete", f"Ghost/default/{prefix}-extra") in actions
    for action, target in (
        ("task.create", f"task/{task['id']}"),
        ("task.follow_up", f"task/{task['id']}"),
        ("task.cancel", f"task/{hung['id']}"),
        ("task.delete", f"task/{task['id']}"),
        ("key.create", f"key/{key['id']}"),
        ("key.revoke", f"key/{key['id']}"),
    ):
        assert (action, target) in actions, (action, target, actions)

    # Admins see everyone's, with filters; the admin's own action on the account is there.
    by_admin = entries(stack, stack.headers, "/api/v1/admin/audit", actor="admin", target=f"user/{username}")
    assert {e["action"] for e in by_admin} == {"user.create", "user.disable"}
    tasks_only = entries(stack, stack.headers, "/api/v1/admin/audit", actor=username, action="task.")
    assert {e["action"] for e in tasks_only} == {"task.create", "task.follow_up", "task.cancel", "task.delete"}
    other = stack.login("admin", ADMIN_PASSWORD)
    assert all(e["actor"] == "admin" for e in entries(stack, other, "/api/v1/users/me/audit"))

    env = {**os.environ, "WEGENT_CONFIG_DIR": str(tmp_path / "cfg"), "WEGENT_API_URL": stack.url}
    cli = [sys.executable, "-m", "cli.main"]
    assert (
        subprocess.run([*cli, "login", "-u", "admin", "-p", ADMIN_PASSWORD], env=env, capture_output=True).returncode
        == 0
    )
    shown = subprocess.run(
        [*cli, "audit", "--all", "--actor", username, "--action", "task."], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "task.follow_up" in shown.stdout and f"task/{hung['id']}" in shown.stdout
