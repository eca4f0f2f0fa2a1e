"""Issue 16, item 6: sandbox limits are the platform's. The operator's defaults fill in what a Shell leaves out,
its maxima cap what a Shell asks for, a Shell may only name an allowed image, and each member of a team runs
under its own Shell's policy. Real Docker executors."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from tests.e2e.conftest import DOCKER_HOST_ALIAS, containers_for_task
from tests.e2e.teams import team_yaml
from tests.support.stack import Stack

POLICY = {
    "WEGENT_SANDBOX_CPU": "0.5",
    "WEGENT_SANDBOX_MAX_CPU": "1",
    "WEGENT_SANDBOX_MEMORY": "256m",
    "WEGENT_SANDBOX_MAX_MEMORY": "512m",
    "WEGENT_SANDBOX_PIDS": "100",
    "WEGENT_SANDBOX_MAX_PIDS": "200",
}


@pytest.fixture(scope="module")
def stack(stack_factory_module) -> Stack:  # type: ignore[no-untyped-def]
    return stack_factory_module("docker", **POLICY)


def _user(stack: Stack) -> dict[str, str]:
    username, password = f"l{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
    assert stack.request("POST", "/api/v1/admin/users", json={"username": username, "password": password}).is_success
    return stack.login(username, password)


def _host_config_while_running(stack: Stack, model, user: dict[str, str], shell: dict) -> dict:  # type: ignore[no-untyped-def]
    prefix = "l" + uuid.uuid4().hex[:8]
    model.script([{"match": "*", "text": "never done " * 20, "stall": True}])
    base = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"
    stack.apply(team_yaml(prefix, base, [{"bot": "b"}], collaboration="solo", shell=shell), headers=user)
    created = stack.create_task(f"{prefix}-team", "hold on", headers=user)
    try:
        deadline = time.monotonic() + 90
        while not containers_for_task(created["id"]):
            assert time.monotonic() < deadline, "no executor container appeared"
            time.sleep(0.3)
        (container,) = containers_for_task(created["id"])
        out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
        return json.loads(out)[0]["HostConfig"]
    finally:
        stack.request("POST", f"/api/v1/tasks/{created['id']}/cancel", headers=user)


def test_a_shell_asking_for_more_than_the_maxima_gets_the_maxima(stack, model):
    shell = {"shellType": "Chat", "resources": {"cpu": 32, "memory": "64g", "pids": 100000}}
    host = _host_config_while_running(stack, model, _user(stack), shell)
    assert host["NanoCpus"] == 1_000_000_000
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["PidsLimit"] == 200


def test_a_shell_without_limits_gets_the_defaults(stack, model):
    host = _host_config_while_running(stack, model, _user(stack), {"shellType": "Chat"})
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["PidsLimit"] == 100


def test_a_shell_may_only_name_an_allowed_image(stack):
    user = _user(stack)
    for image in ("alpine:latest", "wegent-base:bookworm"):
        doc = {
            "kind": "Shell",
            "metadata": {"name": "img-" + uuid.uuid4().hex[:6]},
            "spec": {"shellType": "Chat", "image": image},
        }
        response = stack.request("POST", "/api/v1/namespaces/default/shells", json=doc, headers=user)
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert error["field"] == "spec.image" and "WEGENT_EXECUTOR_IMAGES" in error["message"]
    allowed = stack.env.get("WEGENT_EXECUTOR_IMAGE", "wegent-executor:latest")
    doc = {"kind": "Shell", "metadata": {"name": "img-ok"}, "spec": {"shellType": "Chat", "image": allowed}}
    assert stack.request("POST", "/api/v1/namespaces/default/shells", json=doc, headers=user).status_code == 201


def _limits(container: str) -> tuple[int, int]:
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
    host = json.loads(out)[0]["HostConfig"]
    return host["Memory"], host["PidsLimit"]


def test_each_member_runs_under_its_own_shells_limits(stack, model):
    """Not the first member's Shell for the whole task: the second stage gets a sandbox with its own limits."""
    user, prefix = _user(stack), "l" + uuid.uuid4().hex[:8]
    model.script(
        [
            {"match": "first stage", "text": "HANDED ON"},
            {"match": "HANDED ON", "text": "still checking " * 20, "stall": True},
        ]
    )
    base = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"
    members = [
        {"bot": "draft"},
        {"bot": "check", "shell": {"shellType": "Chat", "resources": {"memory": "384m", "pids": 150}}},
    ]
    stack.apply(team_yaml(prefix, base, members, collaboration="pipeline"), headers=user)
    created = stack.create_task(f"{prefix}-team", "the first stage", headers=user)
    try:
        deadline = time.monotonic() + 120
        # Until the second stage is talking to its model: both sandboxes are up (a cancel while one still
        # starts is another story, see the note on issue 16).
        while len(containers_for_task(created["id"])) < 2 or not [
            r for r in model.requests() if "HANDED ON" in str(r.messages)
        ]:
            assert time.monotonic() < deadline, f"one sandbox per policy expected: {containers_for_task(created['id'])}"
            time.sleep(0.3)
        limits = sorted(_limits(c) for c in containers_for_task(created["id"]))
        assert limits == [(256 * 1024 * 1024, 100), (384 * 1024 * 1024, 150)]
    finally:
        stack.request("POST", f"/api/v1/tasks/{created['id']}/cancel", headers=user)
    deadline = time.monotonic() + 90
    while containers_for_task(created["id"]):  # both sandboxes go with the task
        assert time.monotonic() < deadline, f"left behind: {containers_for_task(created['id'])}"
        time.sleep(0.5)


def test_an_offline_sandbox_still_reaches_its_model_through_the_gateway(stack, model):
    """`network: false` cuts the sandbox off from everything but its model, which it reaches through this host's
    model gateway (with the step's own key) via the relay, never directly."""
    user, prefix = _user(stack), "l" + uuid.uuid4().hex[:8]
    model.script([{"match": "offline question", "text": "an answer from inside an offline sandbox"}])
    base = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"
    shell = {"shellType": "Chat", "resources": {"network": False}}
    stack.apply(team_yaml(prefix, base, [{"bot": "b"}], collaboration="solo", shell=shell), headers=user)
    created = stack.create_task(f"{prefix}-team", "an offline question", headers=user)
    task = stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=120)
    assert task["state"] == "COMPLETED", task.get("error")
    assert "an answer from inside an offline sandbox" in str(stack.task(created["id"], headers=user))
    # The model saw the gateway's call with the Model's real key, not a call from the sandbox itself.
    (call,) = [r for r in model.requests() if "offline question" in str(r.messages)]
    assert call.api_key == "sk-test"
