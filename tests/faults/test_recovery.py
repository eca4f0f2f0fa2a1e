"""Nothing is lost when something fails: worker crashes, executor crashes, Redis restarts, failed steps.

Each test bounds its waits and leaves no container, process or lease behind.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import time
import uuid

from sqlalchemy import select

from tests.e2e.conftest import DOCKER_HOST_ALIAS, containers_for_task
from tests.e2e.teams import team_yaml
from tests.support.chat_client import ChatClient, assemble
from tests.support.stack import free_port

SLOW = " ".join(f"token{i}" for i in range(80))
FAST_FAILOVER = {"WEGENT_AGENT_HEARTBEAT_SECONDS": "6"}


def _prefix() -> str:
    return "f" + uuid.uuid4().hex[:8]


def _token(stack) -> str:  # type: ignore[no-untyped-def]
    return stack.headers["Authorization"].split()[1]


def _leases(workflow_ids: list[str]) -> list[int]:
    from core.db.models import PortLease
    from core.db.session import get_sessionmaker

    with get_sessionmaker()() as db:
        return list(db.scalars(select(PortLease.port).where(PortLease.workflow_id.in_(workflow_ids))))


def _wait(predicate, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


async def test_kill9_worker_mid_stream_reattaches_without_calling_the_model_again(stack_factory, model):
    stack = stack_factory("docker", WEGENT_REDIS_URL="redis://127.0.0.1:6379/0", **FAST_FAILOVER)
    prefix = _prefix()
    model.script([{"match": "*", "text": SLOW, "chunk_size": 6, "chunk_delay": 0.08}])
    stack.apply(team_yaml(prefix, f"{model.url_for(DOCKER_HOST_ALIAS)}/v1", [{"bot": "long"}], collaboration="solo"))
    client = await ChatClient(stack.url, _token(stack)).connect()
    try:
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "a long answer please"})
        await client.wait_for(lambda ev: len([1 for n, _ in ev if n == "chat:chunk"]) >= 10)
        stack.workers[0].kill()  # kill -9 in the middle of the stream
        stack.start_worker()
        await client.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev), timeout=90)
        task = await asyncio.to_thread(stack.wait_state, ack["task_id"], {"COMPLETED", "FAILED"}, 60)
        assert task["state"] == "COMPLETED", task["error"]
        stored = [m for m in task["messages"] if m["role"] == "assistant"]
        assert len(stored) == 1 and stored[0]["content"] == SLOW
        assert len(model.requests()) == 1  # re-attached: the model was not called again
        assert assemble(client.of("chat:chunk", task_id=ack["task_id"])) == SLOW
        offsets = [c["offset"] for c in client.of("chat:chunk", task_id=ack["task_id"])]
        assert len(offsets) == len(set(offsets))  # no chunk delivered twice
    finally:
        await client.close()
    _wait(lambda: containers_for_task(ack["task_id"]) == [], "container removed")


def test_docker_kill_of_the_executor_retries_the_step_in_a_fresh_one(stack_factory, model):
    stack = stack_factory("docker")
    prefix = _prefix()
    model.script([{"match": "*", "text": SLOW, "chunk_size": 6, "chunk_delay": 0.08}])
    stack.apply(team_yaml(prefix, f"{model.url_for(DOCKER_HOST_ALIAS)}/v1", [{"bot": "victim"}], collaboration="solo"))
    created = stack.create_task(f"{prefix}-team", "keep talking")
    _wait(lambda: len(model.requests()) == 1, "model streaming")
    time.sleep(0.5)
    (container,) = containers_for_task(created["id"])
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    task = stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=120)
    assert task["state"] == "COMPLETED", task["error"]
    answers = [m for m in task["messages"] if m["role"] == "assistant"]
    assert [(m["attempt"], m["status"]) for m in answers] == [(1, "error"), (2, "done")]
    assert "exited with code 137" in answers[0]["content"]
    assert answers[1]["content"] == SLOW
    notice = [m for m in task["messages"] if m["role"] == "system"][0]
    assert notice["meta"]["kind"] == "executor_lost" and "137" in notice["content"]
    assert len(model.requests()) == 2
    _wait(lambda: containers_for_task(created["id"]) == [], "containers removed")


async def test_redis_restart_mid_stream_completes_and_the_client_resyncs(stack_factory, model, tmp_path):
    redis_server = shutil.which("redis-server")
    assert redis_server, "redis-server is provisioned by scripts/ensure_services.sh"
    port = free_port()

    def start_redis() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait(
            lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0,
            "redis up",
            10,
        )
        return proc

    redis = start_redis()
    try:
        stack = stack_factory("local", WEGENT_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        prefix = _prefix()
        model.script([{"match": "*", "text": SLOW, "chunk_size": 6, "chunk_delay": 0.08}])
        stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "steady"}], collaboration="solo"))
        client = await ChatClient(stack.url, _token(stack)).connect()
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "stream through an outage"})
        await client.wait_for(lambda ev: len([1 for n, _ in ev if n == "chat:chunk"]) >= 5)
        redis.kill()
        redis.wait()
        await asyncio.sleep(1.0)
        redis = start_redis()  # an empty Redis: the live log is gone, MySQL is not
        task = await asyncio.to_thread(stack.wait_state, ack["task_id"], {"COMPLETED", "FAILED"}, 90)
        assert task["state"] == "COMPLETED", task["error"]
        await client.close()
        # The client re-syncs through task:join and sees the full answer from the database.
        again = await ChatClient(stack.url, _token(stack)).connect()
        joined = await again.call("task:join", {"task_id": ack["task_id"]})
        assert joined["ok"]
        assert [m["content"] for m in joined["task"]["messages"] if m["role"] == "assistant"] == [SLOW]
        await again.close()
    finally:
        redis.kill()
        redis.wait()


def test_failed_step_retry_continues_from_that_step_without_rerunning_earlier_ones(stack_factory, model):
    stack = stack_factory("local")
    prefix = _prefix()
    model.script(
        [
            {"match": "S1-OUT", "status": 400, "error_message": "stage two is misconfigured", "times": 1},
            {"match": "S2-OUT", "text": "S3-OUT final"},
            {"match": "S1-OUT", "text": "S2-OUT refined"},
            {"match": "*", "text": "S1-OUT draft"},
        ]
    )
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "one"}, {"bot": "two"}, {"bot": "three"}]))
    created = stack.create_task(f"{prefix}-team", "do it in three steps")
    failed = stack.wait_state(created["id"], {"COMPLETED", "FAILED"})
    assert failed["state"] == "FAILED" and "stage two is misconfigured" in failed["error"]
    assert len(model.requests()) == 2
    # Retrying anything but a FAILED task is refused.
    other = stack.create_task(f"{prefix}-team", "fine")
    stack.wait_state(other["id"], {"COMPLETED", "FAILED"})
    assert stack.request("POST", f"/api/v1/tasks/{other['id']}/retry").status_code == 409
    before = len(model.requests())

    response = stack.request("POST", f"/api/v1/tasks/{created['id']}/retry", json={})
    assert response.status_code == 202, response.text
    done = stack.wait_state(created["id"], {"COMPLETED", "FAILED"})
    assert done["state"] == "COMPLETED", done["error"]
    retried = model.requests()[before:]
    assert [r.messages[-1]["content"] for r in retried] == ["S1-OUT draft", "S2-OUT refined"]  # stage 1 not re-run
    answers = [(m["bot"], m["attempt"], m["status"]) for m in done["messages"] if m["role"] == "assistant"]
    assert answers == [
        (f"{prefix}-one", 1, "done"),
        (f"{prefix}-two", 1, "error"),
        (f"{prefix}-two", 2, "done"),
        (f"{prefix}-three", 1, "done"),
    ]


def test_retry_can_switch_to_another_model(stack_factory, model):
    stack = stack_factory("local")
    prefix = _prefix()
    model.api_key = "sk-good"
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "solo"}], collaboration="solo", api_key="sk-bad"))
    created = stack.create_task(f"{prefix}-team", "try twice")
    assert stack.wait_state(created["id"], {"COMPLETED", "FAILED"})["state"] == "FAILED"
    stack.apply(team_yaml(prefix + "b", model.openai_base_url, [{"bot": "x"}], collaboration="solo", api_key="sk-good"))
    unknown = stack.request("POST", f"/api/v1/tasks/{created['id']}/retry", json={"model": {"name": "nope"}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "model.name"
    response = stack.request(
        "POST", f"/api/v1/tasks/{created['id']}/retry", json={"model": {"name": f"{prefix}b-model"}}
    )
    assert response.status_code == 202, response.text
    assert stack.wait_state(created["id"], {"COMPLETED", "FAILED"})["state"] == "COMPLETED"
    assert model.requests()[-1].api_key == "sk-good"


def test_thirty_tasks_with_random_cancels_and_a_worker_kill_leave_nothing_behind(stack_factory, model):
    stack = stack_factory("docker", MAX_CONCURRENT_TASKS="4", WEGENT_REAPER_INTERVAL_SECONDS="5", **FAST_FAILOVER)
    prefix = _prefix()
    model.script([{"match": "*", "text": "steady answer " * 8, "chunk_size": 8, "chunk_delay": 0.05}])
    stack.apply(team_yaml(prefix, f"{model.url_for(DOCKER_HOST_ALIAS)}/v1", [{"bot": "many"}], collaboration="solo"))
    rng = random.Random(7)
    created = [stack.create_task(f"{prefix}-team", f"job {i}") for i in range(30)]
    cancelled_ids = set()
    for task in rng.sample(created, 10):
        time.sleep(rng.uniform(0, 0.3))
        response = stack.request("POST", f"/api/v1/tasks/{task['id']}/cancel")
        # Accepted, or refused because the task already ended: never an error.
        assert response.status_code in (200, 202, 409), response.text
        if response.status_code != 409:
            cancelled_ids.add(task["id"])
    time.sleep(2)
    stack.workers[0].kill()
    stack.start_worker()
    final = [stack.wait_state(t["id"], {"COMPLETED", "FAILED", "CANCELLED"}, timeout=240) for t in created]
    assert {t["state"] for t in final} <= {"COMPLETED", "CANCELLED"}, [
        t["error"] for t in final if t["state"] == "FAILED"
    ]
    # A task whose cancel was accepted ends CANCELLED, unless it had already completed meanwhile; no task that
    # was not cancelled ends CANCELLED.
    for task in final:
        if task["state"] == "CANCELLED":
            assert task["id"] in cancelled_ids, task
    assert any(t["state"] == "CANCELLED" for t in final if t["id"] in cancelled_ids)
    ids = [t["id"] for t in created]
    _wait(lambda: all(containers_for_task(i) == [] for i in ids), "no containers left", 90)
    _wait(lambda: _leases([f"task-{i}" for i in ids]) == [], "no port leases left", 60)


def test_reaper_removes_the_sandbox_of_a_terminated_workflow(stack_factory, model):
    stack = stack_factory("docker", WEGENT_REAPER_INTERVAL_SECONDS="3")
    prefix = _prefix()
    model.script([{"match": "*", "text": "never ends", "stall": True}])
    stack.apply(team_yaml(prefix, f"{model.url_for(DOCKER_HOST_ALIAS)}/v1", [{"bot": "stuck"}], collaboration="solo"))
    created = stack.create_task(f"{prefix}-team", "hang")
    _wait(lambda: len(model.requests()) == 1, "model called")
    assert containers_for_task(created["id"])
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:7233"}
    subprocess.run(
        [
            str(shutil.which("temporal") or ".venv/bin/temporal"),
            "workflow",
            "terminate",
            "--namespace",
            stack.env["WEGENT_TEMPORAL_NAMESPACE"],
            "--workflow-id",
            f"task-{created['id']}",
            "--reason",
            "test",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    _wait(lambda: containers_for_task(created["id"]) == [], "reaper removed the sandbox", 60)
    _wait(lambda: _leases([f"task-{created['id']}"]) == [], "reaper released the lease", 30)
    task = stack.wait_state(created["id"], {"CANCELLED", "FAILED"}, timeout=90)
    assert "terminated" in task["error"]


def test_graceful_worker_stop_hands_the_step_over_without_a_second_model_call(stack_factory, model):
    stack = stack_factory("local", **FAST_FAILOVER)
    prefix = _prefix()
    model.script([{"match": "*", "text": SLOW, "chunk_size": 6, "chunk_delay": 0.08}])
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "relay"}], collaboration="solo"))
    created = stack.create_task(f"{prefix}-team", "hand me over")
    _wait(lambda: len(model.requests()) == 1, "model streaming")
    time.sleep(1.0)
    stack.workers[0].stop()  # SIGTERM: a deploy or scale-down
    stack.start_worker()
    task = stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=90)
    assert task["state"] == "COMPLETED", task["error"]
    assert [m["content"] for m in task["messages"] if m["role"] == "assistant"] == [SLOW]
    assert len(model.requests()) == 1
