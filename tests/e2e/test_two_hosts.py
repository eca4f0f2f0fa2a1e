"""Two executor hosts on one Temporal: tasks spread over both, a task's steps stay on its sandbox's host, and
a host whose worker stops (SIGTERM) leaves the other to take new tasks while its running steps move over.

Both "hosts" are worker processes with their own WEGENT_EXECUTOR_HOST (so their own task queues and executor
port ranges) on this machine; which host ran what is read from each worker's log.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path

from tests.e2e.teams import team_yaml

SLOW = " ".join(f"word{i}" for i in range(60))


def _events(log_path: Path, event: str) -> list[dict]:  # type: ignore[type-arg]
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        if f'"{event}"' in line:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def _wait(predicate, what: str, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


def _two_hosts(stack_factory):  # type: ignore[no-untyped-def]
    stack = stack_factory(
        "local",
        MAX_CONCURRENT_TASKS="3",
        WEGENT_EXECUTOR_IDLE_SECONDS="60",  # a follow-up finds its sandbox still there
        WEGENT_AGENT_HEARTBEAT_SECONDS="6",
    )
    host_a = stack.env["WEGENT_EXECUTOR_HOST"]
    host_b = f"{host_a}-b"
    low = random.randrange(40000, 49000, 20)
    stack.start_worker(
        {"WEGENT_EXECUTOR_HOST": host_b, "EXECUTOR_PORT_RANGE_MIN": str(low), "EXECUTOR_PORT_RANGE_MAX": str(low + 19)}
    )

    def online() -> set[str]:
        hosts = stack.request("GET", "/api/v1/admin/executors").json()["hosts"]
        return {h["host"] for h in hosts if h["online"]}

    _wait(lambda: {host_a, host_b} <= online(), "both hosts announced themselves")
    return stack, {host_a: stack.workers[0], host_b: stack.workers[1]}


def _placement(workers) -> tuple[dict[int, str], dict[int, set[str]]]:  # type: ignore[no-untyped-def]
    """task id -> host that started its (latest) sandbox; task id -> hosts whose worker ran one of its steps."""
    started: list[tuple[str, int, str]] = []
    steps: dict[int, set[str]] = defaultdict(set)
    for host, worker in workers.items():
        started += [(e["timestamp"], int(e["task_id"]), host) for e in _events(worker.log_path, "executor.started")]
        for entry in _events(worker.log_path, "agent_step.done"):
            steps[int(entry["task_id"])].add(host)
    sandbox = {task_id: host for _, task_id, host in sorted(started)}  # the latest start wins
    return sandbox, steps


def test_tasks_spread_over_two_hosts_and_every_step_runs_on_its_sandboxs_host(stack_factory, model):
    stack, workers = _two_hosts(stack_factory)
    prefix = "h" + uuid.uuid4().hex[:8]
    model.script([{"match": "*", "text": "stage output", "chunk_size": 4, "chunk_delay": 0.02}])
    members = [{"bot": "first"}, {"bot": "second"}]
    stack.apply(team_yaml(prefix, model.openai_base_url, members, collaboration="pipeline"))
    created = [stack.create_task(f"{prefix}-team", f"job {i}") for i in range(12)]
    finished = [stack.wait_state(t["id"], {"COMPLETED", "FAILED"}, timeout=180) for t in created]
    assert [t["error"] for t in finished if t["state"] != "COMPLETED"] == []
    # A follow-up while the sandbox is still warm runs there too.
    again = created[0]["id"]
    response = stack.request("POST", f"/api/v1/tasks/{again}/messages", json={"message": "once more"})
    assert response.status_code == 202, response.text
    _wait(lambda: stack.task(again)["turn"] == 2 and stack.task(again)["state"] == "COMPLETED", "turn 2 done")

    sandbox, steps = _placement(workers)
    ids = [t["id"] for t in created]
    assert {sandbox[i] for i in ids} == set(workers), sandbox  # both hosts got tasks
    for task_id in ids:
        assert steps[task_id] == {sandbox[task_id]}, (task_id, sandbox[task_id], steps[task_id])
    # Turn 2 ran both stages in the same sandbox (started once) on its host.
    done_on_host = [e for e in _events(workers[sandbox[again]].log_path, "agent_step.done") if e["task_id"] == again]
    assert sorted((e["turn"], e["step"]) for e in done_on_host) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    starts = [e for w in workers.values() for e in _events(w.log_path, "executor.started") if e["task_id"] == again]
    assert len(starts) == 1, starts


def test_stopping_one_host_leaves_new_tasks_to_the_other_and_its_running_steps_finish(stack_factory, model):
    stack, workers = _two_hosts(stack_factory)
    host_a, host_b = list(workers)
    prefix = "s" + uuid.uuid4().hex[:8]
    model.script([{"match": "*", "text": SLOW, "chunk_size": 2, "chunk_delay": 0.1}])
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "solo"}], collaboration="solo"))
    # As many tasks as both hosts have slots, so none waits in a queue; at least one must run on host B.
    first = [stack.create_task(f"{prefix}-team", f"long job {i}") for i in range(6)]
    ids = {t["id"] for t in first}

    def streaming_on_b() -> list[int]:
        return [e["task_id"] for e in _events(workers[host_b].log_path, "agent_step.streaming") if e["task_id"] in ids]

    _wait(lambda: streaming_on_b() and len(model.requests()) == 6, "every task streaming, one on host B")
    on_b = set(streaming_on_b())
    time.sleep(1.0)
    workers[host_b].stop()  # SIGTERM: a scale-down; this host does not come back

    later = [stack.create_task(f"{prefix}-team", f"after the stop {i}") for i in range(3)]
    try:
        final = [stack.wait_state(t["id"], {"COMPLETED", "FAILED"}, timeout=240) for t in first + later]
    except AssertionError as exc:
        story = workers[host_b].story(on_b, prefixes=("worker.", "pool.", "gateway."))
        raise AssertionError(f"{exc}\n--- the stopped host {host_b} (tasks {sorted(on_b)}):\n{story}") from None
    assert [(t["id"], t["error"]) for t in final if t["state"] != "COMPLETED"] == []
    for task in final:
        answers = [m for m in task["messages"] if m["role"] == "assistant" and m["status"] == "done"]
        assert [m["content"] for m in answers] == [SLOW], task["messages"]  # complete, once
    sandbox, steps = _placement(workers)
    assert all(sandbox[t["id"]] == host_a for t in later), sandbox
    for task_id in on_b:  # moved: its step ran again in a fresh sandbox on host A, after a notice
        assert sandbox[task_id] == host_a and steps[task_id] == {host_a}, (task_id, sandbox, steps)
        notes = [m for m in stack.task(task_id)["messages"] if m["role"] == "system"]
        assert any("host stopped serving work" in m["content"] for m in notes), notes
