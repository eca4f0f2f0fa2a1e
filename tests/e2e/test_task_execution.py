"""Tasks run as Temporal workflows in real executors: pipeline in Docker, solo locally, cancel, failures."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select

from tests.e2e.conftest import DOCKER_HOST_ALIAS, containers_for_task
from tests.e2e.teams import team_yaml


def _prefix() -> str:
    return "t" + uuid.uuid4().hex[:8]


def _leases(workflow_id: str) -> list[int]:
    from core.db.models import PortLease
    from core.db.session import get_sessionmaker

    with get_sessionmaker()() as db:
        return list(db.scalars(select(PortLease.port).where(PortLease.workflow_id == workflow_id)))


def test_three_stage_pipeline_in_docker_passes_context_and_cleans_up(docker_stack, model):
    prefix = _prefix()
    model.script(
        [
            {"match": "S2-OUT", "text": "FINAL ANSWER from the reviewer"},
            {"match": "S1-OUT", "text": "S2-OUT: refined plan"},
            {"match": "*", "text": "S1-OUT: first draft"},
        ]
    )
    docker_stack.apply(
        team_yaml(
            prefix,
            f"{model.url_for(DOCKER_HOST_ALIAS)}/v1",
            [
                {"bot": "planner"},
                {"bot": "refiner", "contextPassing": "previous", "prompt": "Refine it."},
                {"bot": "reviewer", "contextPassing": "both"},
            ],
        )
    )
    created = docker_stack.create_task(f"{prefix}-team", "Plan a trip to Lisbon")
    assert created["state"] == "PENDING"
    assert created["consoleUrl"].endswith(f"/workflows/task-{created['id']}")

    task = docker_stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=120)
    assert task["state"] == "COMPLETED", task["error"]
    answers = [m for m in task["messages"] if m["role"] == "assistant"]
    assert [m["bot"] for m in answers] == [f"{prefix}-planner", f"{prefix}-refiner", f"{prefix}-reviewer"]
    assert [m["content"] for m in answers] == [
        "S1-OUT: first draft",
        "S2-OUT: refined plan",
        "FINAL ANSWER from the reviewer",
    ]
    assert all(m["usage"]["outputTokens"] > 0 for m in answers)
    assert task["currentStep"] == 2

    requests = model.requests()
    assert len(requests) == 3
    # Stage 2 got only the previous output (plus its member prompt in the system prompt).
    assert requests[1].messages[-1]["content"] == "S1-OUT: first draft"
    assert "Refine it." in requests[1].messages[0]["content"]
    # Stage 3 got both the original request and the previous output; each stage is a fresh session.
    assert "Plan a trip to Lisbon" in requests[2].messages[-1]["content"]
    assert "S2-OUT: refined plan" in requests[2].messages[-1]["content"]
    assert all(len([m for m in r.messages if m["role"] != "system"]) == 1 for r in requests)
    assert requests[0].api_key == "sk-test"

    _wait(lambda: containers_for_task(created["id"]) == [], "executor container removed")
    _wait(lambda: _leases(f"task-{created['id']}") == [], "port lease released")


def test_solo_task_on_local_backend(local_stack, model):
    prefix = _prefix()
    local_stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "solo"}], collaboration="solo"))
    created = local_stack.create_task(f"{prefix}-team", "hello there")
    task = local_stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=60)
    assert task["state"] == "COMPLETED", task["error"]
    assert [m["role"] for m in task["messages"]] == ["user", "assistant"]
    assert task["messages"][1]["content"] == "echo: hello there"
    assert task["usage"]["outputTokens"] > 0
    _wait(lambda: _leases(f"task-{created['id']}") == [], "port lease released")


def test_cancel_during_a_long_stream_stops_the_model_and_removes_the_container(docker_stack, model):
    prefix = _prefix()
    model.script([{"match": "*", "text": "this will never finish " * 20, "stall": True}])
    docker_stack.apply(
        team_yaml(prefix, f"{model.url_for(DOCKER_HOST_ALIAS)}/v1", [{"bot": "slow"}], collaboration="solo")
    )
    created = docker_stack.create_task(f"{prefix}-team", "take your time")
    docker_stack.wait_state(created["id"], {"RUNNING"}, timeout=60)
    _wait(lambda: len(model.requests()) == 1, "model request started")
    response = docker_stack.request("POST", f"/api/v1/tasks/{created['id']}/cancel")
    assert response.status_code == 202, response.text
    task = docker_stack.wait_state(created["id"], {"CANCELLED", "FAILED", "COMPLETED"}, timeout=60)
    assert task["state"] == "CANCELLED"
    _wait(lambda: model.requests()[0].disconnected, "model stream closed")
    _wait(lambda: containers_for_task(created["id"]) == [], "executor container removed")
    # A terminal state is final: cancelling again is refused.
    assert docker_stack.request("POST", f"/api/v1/tasks/{created['id']}/cancel").status_code == 409


def test_model_401_fails_the_task_with_the_message_and_no_retry_storm(local_stack, model):
    prefix = _prefix()
    model.api_key = "sk-the-right-one"
    local_stack.apply(
        team_yaml(prefix, model.openai_base_url, [{"bot": "locked"}], collaboration="solo", api_key="sk-wrong")
    )
    created = local_stack.create_task(f"{prefix}-team", "let me in")
    task = local_stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=60)
    assert task["state"] == "FAILED"
    assert "401" in task["error"]
    time.sleep(2)  # would a retry have happened, it would have by now (initial interval 1 s)
    assert len(model.requests()) == 1


def test_team_broken_at_run_time_fails_with_a_clear_error(local_stack, model):
    prefix = _prefix()
    local_stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "gone"}], collaboration="solo"))
    deleted = local_stack.request("DELETE", f"/api/v1/namespaces/default/bots/{prefix}-gone", params={"force": "true"})
    assert deleted.status_code == 200
    gone = local_stack.request("GET", f"/api/v1/namespaces/default/bots/{prefix}-gone")
    assert gone.status_code == 404, gone.text
    created = local_stack.create_task(f"{prefix}-team", "anyone?")
    task = local_stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=60)
    assert task["state"] == "FAILED"
    assert f"bot '{prefix}-gone' does not exist" in task["error"]
    assert model.requests() == []


def test_unknown_team_is_a_422_naming_the_field(local_stack):
    response = local_stack.request("POST", "/api/v1/tasks", json={"team": {"name": "no-such-team"}, "prompt": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "team.name"
    response = local_stack.request("POST", "/api/v1/tasks", json={"team": {"name": "x"}, "prompt": ""})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "prompt"]


def _wait(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {what}")


def test_temporal_history_holds_no_plaintext_prompts_or_secrets(local_stack, model):
    import asyncio

    from temporalio.client import Client

    prefix = _prefix()
    local_stack.apply(
        team_yaml(
            prefix, model.openai_base_url, [{"bot": "quiet"}], collaboration="solo", api_key="sk-never-in-history"
        )
    )
    created = local_stack.create_task(f"{prefix}-team", "the launch code is TOPSECRET-42")
    assert local_stack.wait_state(created["id"], {"COMPLETED", "FAILED"})["state"] == "COMPLETED"

    async def raw_history() -> bytes:
        # A plain client (no codec), as anyone with access to Temporal's storage would see it.
        client = await Client.connect("127.0.0.1:7233", namespace=local_stack.env["WEGENT_TEMPORAL_NAMESPACE"])
        events = [e async for e in client.get_workflow_handle(f"task-{created['id']}").fetch_history_events()]
        return b"".join(e.SerializeToString() for e in events)

    history = asyncio.run(raw_history())
    assert b"binary/encrypted" in history
    for secret in (b"sk-never-in-history", b"TOPSECRET-42", b"echo: the launch code"):
        assert secret not in history
