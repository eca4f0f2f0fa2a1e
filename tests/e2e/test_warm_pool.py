"""A worker's warm pool, end to end: a task runs in a sandbox started before it, bound to it alone; the pool
refills while the task runs; the task's sandbox goes with the task; a stopping worker drains the pool.

Real API, worker, Temporal, database and backends (local forks and Docker containers).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus

from activities.executors.docker_backend import DockerBackend
from activities.executors.local_backend import LocalBackend
from activities.tokens import executor_token
from core.db.models import PortLease
from core.db.session import get_sessionmaker
from tests.conftest import STATE_DIR
from tests.e2e.conftest import DOCKER_HOST_ALIAS
from tests.e2e.teams import team_yaml
from tests.e2e.test_schedules import temporal


def backend_for(name: str) -> Any:
    scope = os.environ["WEGENT_TEMPORAL_NAMESPACE"]
    if name == "docker":
        return DockerBackend(state_dir=STATE_DIR / "executors", scope=scope)
    return LocalBackend(STATE_DIR / "executors", scope=scope, zygote=False)


def _waiting(port: int) -> bool:
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    # Primed too: the pool offers a warm sandbox only once it has loaded what a first run needs.
    return health.get("bound") is False and bool(health.get("pool")) and health.get("primed") is True


def leases(host: str) -> list[tuple[int, str]]:
    with get_sessionmaker()() as db:
        rows = db.scalars(select(PortLease).where(PortLease.host == host))
        return [(lease.port, lease.workflow_id) for lease in rows]


def warm_ports(host: str, timeout: float = 120.0, exclude: frozenset[int] = frozenset()) -> set[int]:
    """The ports of the host's warm sandboxes once one is up and waiting for a task (not among ``exclude``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = {port for port, workflow in leases(host) if workflow.startswith("pool:")} - exclude
        if ports and all(_waiting(port) for port in ports):
            time.sleep(0.5)  # the pool checks it is its own before offering it
            return ports
        time.sleep(0.2)
    raise AssertionError(f"no warm sandbox on {host} after {timeout:.0f}s")


def local_activities(workflow_id: str) -> list[str]:
    """The local activities the workflow ran, in order, from its history's markers, once it has closed.

    A local activity's marker is recorded with the workflow task that follows it, after what the activity wrote
    (the task's COMPLETED state) is already visible: read earlier, the history may lack the last marker.
    """

    async def read(client: Client) -> list[str]:
        handle = client.get_workflow_handle(workflow_id)
        # No idle wait in these stacks: it closes after the turn. (Its result is sealed by the payload codec, so
        # the close is read from its description, not its result.)
        deadline = time.monotonic() + 60
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            assert time.monotonic() < deadline, f"{workflow_id} still open a minute after its turn"
            await asyncio.sleep(0.2)
        history = await handle.fetch_history()
        names = []
        for event in history.events:
            marker = event.marker_recorded_event_attributes
            if event.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_local_activity":
                names.append(json.loads(marker.details["data"].payloads[0].data)["activity_type"])
        return names

    return temporal(read)


@pytest.mark.parametrize("backend_name", ["local", "docker"])
def test_a_task_runs_in_a_warm_sandbox_bound_to_it_and_the_pool_refills_and_drains(
    stack_factory: Any, model: Any, backend_name: str
) -> None:
    stack = stack_factory(backend_name, WEGENT_EXECUTOR_POOL_SIZE="1")
    host = stack.env["WEGENT_EXECUTOR_HOST"]
    backend = backend_for(backend_name)
    base = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1" if backend_name == "docker" else model.openai_base_url
    prefix = "w" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, base, [{"bot": "warm"}], collaboration="solo"))

    [waiting_port] = warm_ports(host)
    view = stack.request("GET", "/api/v1/admin/executors").json()
    mine = next(h for h in view["hosts"] if h["host"] == host)
    assert mine["warmSandboxes"] == 1 and mine["sandboxes"] == []  # counted, not shown as a task's sandbox

    # A slow answer keeps the task RUNNING long enough to look at its sandbox.
    model.script([{"match": "*", "text": "a warm answer, slowly", "chunk_size": 2, "chunk_delay": 0.3}])
    task = stack.create_task(f"{prefix}-team", "hello")
    workflow_id = f"task-{task['id']}"
    deadline = time.monotonic() + 60
    while stack.task(task["id"])["state"] != "RUNNING":
        assert time.monotonic() < deadline, stack.task(task["id"])
        time.sleep(0.1)

    [executor] = [i for i in asyncio.run(backend.list_managed()) if i.workflow_id == workflow_id]
    assert executor.port == waiting_port and executor.running, stack.workers[0].tail(80)  # the waiting one
    assert executor.task_id == task["id"] and executor.warm_owner is None
    assert (waiting_port, workflow_id) in leases(host)
    # Bound to this task: its token opens it; another task's token does not.
    url = f"http://127.0.0.1:{waiting_port}/workspace"
    assert httpx.get(url, headers={"Authorization": f"Bearer {executor_token(workflow_id)}"}).status_code == 200
    other = executor_token(f"task-{task['id'] + 1000}")
    assert httpx.get(url, headers={"Authorization": f"Bearer {other}"}).status_code == 401
    if backend_name == "docker":  # the operator's default limits hold
        attrs = backend.client.containers.get(executor.executor_id).attrs["HostConfig"]
        assert attrs["NanoCpus"] > 0 and attrs["Memory"] > 0 and attrs["PidsLimit"] > 0

    # The pool refills in the background, with a new sandbox.
    refill = warm_ports(host, exclude=frozenset({waiting_port}))
    assert waiting_port not in refill

    done = stack.wait_state(task["id"], {"COMPLETED"}, timeout=120)
    assert done["state"] == "COMPLETED"
    # Taken in the same local activity that read the plan: no separate take on the way to the first step.
    assert local_activities(workflow_id) == ["resolve_plan_and_take", "update_task_state"]
    answers = [m["content"] for m in done["messages"] if m["role"] == "assistant"]
    assert answers == ["a warm answer, slowly"]
    # Removed with its task (WEGENT_EXECUTOR_IDLE_SECONDS=0), like any executor.
    deadline = time.monotonic() + 60
    while asyncio.run(backend.inspect(executor.executor_id)) is not None:
        assert time.monotonic() < deadline, "the task's sandbox outlived its task"
        time.sleep(0.2)

    # A stopping worker drains its pool: no warm sandbox and no pool lease is left on the host.
    refilled = {i.executor_id for i in asyncio.run(backend.list_warm()) if i.port in refill}
    assert refilled
    for worker in stack.workers:
        worker.stop()
    assert not [port for port, workflow in leases(host) if workflow.startswith("pool:")]
    assert not refilled & {i.executor_id for i in asyncio.run(backend.list_warm())}
