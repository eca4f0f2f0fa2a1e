"""A worker that stops leaves no process behind on its host: idle executors and the zygote go with it."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

from tests.conftest import STATE_DIR
from tests.e2e.teams import team_yaml

EXECUTORS = STATE_DIR / "executors"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _executor_pids(task_ids: set[int]) -> list[int]:
    pids = []
    for path in EXECUTORS.glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("task_id") in task_ids:
            pids.append(int(record["pid"]))
    return pids


def _zygote_pid(worker_pid: int) -> int:
    path = EXECUTORS / f"zygote-{worker_pid}.pid"
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return int(json.loads(path.read_text())["pid"])


def _wait_gone(pids: list[int], timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_sigterm_releases_idle_executors_and_the_zygote(stack_factory, model):
    # Executors are kept warm for follow-ups for five minutes: only the worker's stop can release them.
    stack = stack_factory("local", WEGENT_EXECUTOR_IDLE_SECONDS="300", WEGENT_TASK_IDLE_SECONDS="600")
    prefix = "w" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "idle"}], collaboration="solo"))
    tasks = [stack.create_task(f"{prefix}-team", f"job {i}") for i in range(3)]
    for task in tasks:
        assert stack.wait_state(task["id"], {"COMPLETED", "FAILED"})["state"] == "COMPLETED"
    worker = stack.workers[0]
    executors = _executor_pids({t["id"] for t in tasks})
    assert len(executors) == 3 and all(_alive(p) for p in executors)  # idle, waiting for a follow-up
    zygote = _zygote_pid(worker.proc.pid)
    assert _alive(zygote)

    worker.stop(signal.SIGTERM, timeout=60)
    assert worker.proc.returncode == 0, worker.tail()
    assert not _wait_gone(executors), "idle executors outlived the worker"
    assert not _wait_gone([zygote]), "the zygote outlived the worker"
    assert not _executor_pids({t["id"] for t in tasks})  # and their records are gone

    # A follow-up after the restart gets a fresh sandbox and completes.
    stack.start_worker()
    follow = stack.request("POST", f"/api/v1/tasks/{tasks[0]['id']}/messages", json={"message": "again"})
    assert follow.status_code in (200, 201, 202), follow.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        task = stack.task(tasks[0]["id"])
        if task["state"] in ("COMPLETED", "FAILED") and task["messages"][-1]["content"] == "echo: again":
            break
        time.sleep(0.2)
    assert task["state"] == "COMPLETED" and task["messages"][-1]["content"] == "echo: again", task


def test_a_killed_worker_takes_its_zygote_with_it(stack_factory, model):
    stack = stack_factory("local")
    worker = stack.workers[0]
    zygote = _zygote_pid(worker.proc.pid)
    assert _alive(zygote)
    os.killpg(worker.proc.pid, signal.SIGKILL)  # no clean-up of its own can run
    worker.proc.wait(10)
    assert not _wait_gone([zygote]), "the zygote outlived a killed worker"
