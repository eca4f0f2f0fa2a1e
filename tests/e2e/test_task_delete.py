"""Deleting a task: a running one is cancelled first and its sandbox goes; the task and its messages are gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from tests.conftest import ADMIN_PASSWORD
from tests.e2e.conftest import DOCKER_HOST_ALIAS, containers_for_task
from tests.e2e.teams import team_yaml


def _team(stack, base_url: str) -> str:  # type: ignore[no-untyped-def]
    prefix = "x" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, base_url, [{"bot": "doomed"}], collaboration="solo"))
    return f"{prefix}-team"


def test_deleting_a_running_task_stops_it_removes_its_sandbox_and_its_messages(docker_stack, model):
    model.script([{"match": "*", "text": "never finishes", "stall": True}])
    team = _team(docker_stack, f"{model.url_for(DOCKER_HOST_ALIAS)}/v1")
    task = docker_stack.create_task(team, "run forever")
    deadline = time.monotonic() + 120
    while not model.requests() and time.monotonic() < deadline:  # the agent is mid-answer in its container
        time.sleep(0.2)
    assert containers_for_task(task["id"])

    deleted = docker_stack.request("DELETE", f"/api/v1/tasks/{task['id']}")
    assert deleted.status_code == 204, deleted.text
    assert containers_for_task(task["id"]) == []  # gone before the delete answered
    assert docker_stack.request("GET", f"/api/v1/tasks/{task['id']}").status_code == 404
    listed = docker_stack.request("GET", "/api/v1/tasks", params={"team": team}).json()
    assert listed["items"] == []
    assert model.requests()[-1].disconnected  # the model call was really stopped


def test_deleting_a_finished_task_and_access_rules(local_stack, model, tmp_path):
    team = _team(local_stack, model.openai_base_url)
    task = local_stack.create_task(team, "quick one")
    assert local_stack.wait_state(task["id"], {"COMPLETED"})["state"] == "COMPLETED"

    # Another user cannot delete it, and an unknown id is the same 404.
    username, password = "d" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex
    made = local_stack.request(
        "POST", "/api/v1/admin/users", json={"username": username, "password": password, "role": "user"}
    )
    assert made.status_code == 201, made.text
    other = local_stack.login(username, password)
    assert local_stack.request("DELETE", f"/api/v1/tasks/{task['id']}", headers=other).status_code == 404
    assert local_stack.request("DELETE", "/api/v1/tasks/999999").status_code == 404

    # `wegent delete task ID`, as a user types it.
    env = {**os.environ, "WEGENT_CONFIG_DIR": str(tmp_path / "cfg"), "WEGENT_API_URL": local_stack.url}
    cli = [sys.executable, "-m", "cli.main"]
    login = subprocess.run([*cli, "login", "-u", "admin", "-p", ADMIN_PASSWORD], env=env, capture_output=True)
    assert login.returncode == 0, login.stderr
    ran = subprocess.run([*cli, "delete", "task", str(task["id"])], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert f"task {task['id']} deleted" in ran.stdout
    assert local_stack.request("GET", f"/api/v1/tasks/{task['id']}").status_code == 404
