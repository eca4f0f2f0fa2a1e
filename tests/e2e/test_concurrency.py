"""Worker slots enforce MAX_CONCURRENT_TASKS agent runs per host, queued tasks show their place, port leases
never collide."""

from __future__ import annotations

import random
import threading
import time
import uuid

from tests.e2e.teams import team_yaml
from tests.support.model_server import max_concurrency


def test_thirty_tasks_with_three_slots_queue_in_order_run_three_at_most_and_all_complete(stack_factory, model):
    # Ten executor ports for thirty tasks: sandboxes start as agent slots free up, not one per queued task
    # (which ran out of ports and failed the rest), so every task completes.
    low = random.randrange(30000, 39000, 10)
    stack = stack_factory(
        "local", MAX_CONCURRENT_TASKS="3", EXECUTOR_PORT_RANGE_MIN=str(low), EXECUTOR_PORT_RANGE_MAX=str(low + 9)
    )
    prefix = "k" + uuid.uuid4().hex[:8]
    model.script([{"match": "*", "text": "a fairly slow answer " * 4, "chunk_size": 8, "chunk_delay": 0.05}])
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "worker"}], collaboration="solo"))
    created = [stack.create_task(f"{prefix}-team", f"job {i}") for i in range(30)]
    last = stack.task(created[-1]["id"])
    if last["state"] == "PENDING":  # the task view says where it stands
        assert isinstance(last["queuePosition"], int) and last["queuePosition"] >= 1, last
    # Sample the task list until all are done: queued tasks are visibly PENDING, with their place in the queue,
    # while others run. (The slot count itself is measured at the model below: a task's state is recorded a
    # moment after its step ends.)
    samples: list[dict[str, int]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        items = stack.request("GET", "/api/v1/tasks", params={"team": f"{prefix}-team", "limit": 50}).json()["items"]
        states = [t["state"] for t in items]
        samples.append({s: states.count(s) for s in set(states)})
        # The queue is shared with other users' tasks, so positions are not 1..k here; but they are all given,
        # and in creation order.
        pending = sorted((t for t in items if t["state"] == "PENDING"), key=lambda t: t["id"])
        positions = [t["queuePosition"] for t in pending]
        assert all(isinstance(p, int) and p >= 1 for p in positions), positions
        assert positions == sorted(set(positions)), positions
        assert all(t["queuePosition"] is None for t in items if t["state"] != "PENDING")
        if states.count("COMPLETED") + states.count("FAILED") == len(created):
            break
        time.sleep(0.1)
    assert any(s.get("RUNNING", 0) >= 1 and s.get("PENDING", 0) >= 1 for s in samples), samples
    finished = [stack.wait_state(t["id"], {"COMPLETED", "FAILED"}, timeout=120) for t in created]
    assert [t["error"] for t in finished if t["state"] != "COMPLETED"] == []
    requests = model.requests()
    assert len(requests) == 30
    assert 1 <= max_concurrency(requests) <= 3


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
