"""Worker slots enforce MAX_CONCURRENT_TASKS agent runs per host; port leases never collide."""

from __future__ import annotations

import threading
import time
import uuid

from tests.e2e.teams import team_yaml
from tests.support.model_server import max_concurrency


def test_twelve_tasks_with_two_slots_never_run_more_than_two_steps_at_once(stack_factory, model):
    stack = stack_factory("local", MAX_CONCURRENT_TASKS="2")
    prefix = "k" + uuid.uuid4().hex[:8]
    model.script([{"match": "*", "text": "a fairly slow answer " * 4, "chunk_size": 8, "chunk_delay": 0.08}])
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "worker"}], collaboration="solo"))
    created = [stack.create_task(f"{prefix}-team", f"job {i}") for i in range(12)]
    # Sample the task list until all are done: queued tasks are visibly PENDING while others run. (The slot
    # count itself is measured at the model below: a task's state is recorded a moment after its step ends.)
    samples: list[dict[str, int]] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        items = stack.request("GET", "/api/v1/tasks", params={"team": f"{prefix}-team", "limit": 50}).json()["items"]
        states = [t["state"] for t in items]
        samples.append({s: states.count(s) for s in set(states)})
        if states.count("COMPLETED") + states.count("FAILED") == len(created):
            break
        time.sleep(0.05)
    assert any(s.get("RUNNING", 0) >= 1 and s.get("PENDING", 0) >= 1 for s in samples), samples
    finished = [stack.wait_state(t["id"], {"COMPLETED", "FAILED"}, timeout=120) for t in created]
    assert {t["state"] for t in finished} == {"COMPLETED"}
    requests = model.requests()
    assert len(requests) == 12
    assert 1 <= max_concurrency(requests) <= 2


def test_parallel_port_leases_are_unique_and_released(client):
    from activities.ports import lease_port, leases_on, release_ports
    from core.db.session import get_sessionmaker

    sessions = get_sessionmaker()
    host = f"lease-test-{uuid.uuid4().hex[:6]}"
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def lease(workflow_id: str) -> None:
        try:
            results[workflow_id] = lease_port(sessions, host, workflow_id, 12001, 12040)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=lease, args=(f"wf-{i}",)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results.values())) == 30
    # A retried start for the same workflow gets the same port back.
    assert lease_port(sessions, host, "wf-3", 12001, 12040) == results["wf-3"]
    for workflow_id in results:
        release_ports(sessions, host, workflow_id)
    assert leases_on(sessions, host) == []
