"""Operators see each worker host: its slots in use and capacity, its live sandboxes, and the queue in order."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from tests.conftest import ADMIN_PASSWORD
from tests.e2e.teams import team_yaml


def test_admin_executors_shows_slots_sandboxes_and_the_queue(stack_factory, model, tmp_path):
    stack = stack_factory("local", MAX_CONCURRENT_TASKS="1", WEGENT_EXECUTOR_IDLE_SECONDS="60")
    host = stack.env["WEGENT_EXECUTOR_HOST"]
    prefix = "o" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "busy"}], collaboration="solo"))
    model.script([{"match": "*", "text": "holding the only slot", "stall": True}])
    running = stack.create_task(f"{prefix}-team", "first")
    deadline = time.monotonic() + 60
    while stack.task(running["id"])["state"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    waiting = [stack.create_task(f"{prefix}-team", f"queued {i}") for i in range(2)]

    view: dict = {}  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the host announces itself when its worker starts
        view = stack.request("GET", "/api/v1/admin/executors").json()
        if any(h["host"] == host for h in view["hosts"]):
            break
        time.sleep(0.5)
    mine = next(h for h in view["hosts"] if h["host"] == host)
    assert mine["online"] is True and mine["backend"] == "local" and mine["capacity"] == 1
    assert mine["slotsInUse"] == 1
    [sandbox] = [s for s in mine["sandboxes"] if s["taskId"] == running["id"]]
    assert sandbox["owner"] == "admin" and sandbox["state"] == "RUNNING" and sandbox["port"] > 0
    queued = [q for q in view["queued"] if q["taskId"] in {t["id"] for t in waiting}]
    assert [q["taskId"] for q in queued] == [t["id"] for t in waiting]  # in the order they wait
    assert queued[0]["position"] < queued[1]["position"] and queued[0]["team"] == f"default/{prefix}-team"

    # Only admins: an ordinary user gets 403.
    username, password = "n" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex
    assert (
        stack.request(
            "POST", "/api/v1/admin/users", json={"username": username, "password": password, "role": "user"}
        ).status_code
        == 201
    )
    denied = stack.request("GET", "/api/v1/admin/executors", headers=stack.login(username, password))
    assert denied.status_code == 403

    env = {**os.environ, "WEGENT_CONFIG_DIR": str(tmp_path / "cfg"), "WEGENT_API_URL": stack.url}
    cli = [sys.executable, "-m", "cli.main"]
    assert (
        subprocess.run([*cli, "login", "-u", "admin", "-p", ADMIN_PASSWORD], env=env, capture_output=True).returncode
        == 0
    )
    shown = subprocess.run([*cli, "admin", "executors"], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert host in shown.stdout and "1/1" in shown.stdout and str(running["id"]) in shown.stdout
    for task in (running, *waiting):
        stack.request("POST", f"/api/v1/tasks/{task['id']}/cancel")
