"""`wegent up` end to end, started the way `make run` starts it, on the real local model.

Each test runs `wegent up` as a subprocess in its own temporary folder (state, CLI credentials) with free ports
for the API, the Temporal dev server it starts as a child, the Temporal web console and llama-server. Nothing
of the suite's shared MariaDB/Redis/Temporal is used: SQLite, the in-process bus and local executors, as a user
gets them. The local model is SmolLM2-135M: answers are checked for structure, never for content.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
WEGENT = str(Path(sys.executable).parent / "wegent")
PIPELINE_BOTS = ["demo-planner", "demo-writer", "demo-reviewer"]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
# Executor ports apart from the other suites' stacks (10001-10100), which share this host.
EXECUTOR_PORTS = ("10601", "10640")


def _proc_start_time(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live process below ``root`` (children in other sessions included)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                raw = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                start = _proc_start_time(pid)
                if start is not None:
                    found[pid] = start
                    frontier.append(pid)
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


class Up:
    """One `wegent up` in ``folder``; start() and stop() may be repeated (same state, same ports)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state = folder / "state"
        self.api_port, self.temporal_port, self.ui_port, self.model_port = (free_port() for _ in range(4))
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.temporal_address = f"127.0.0.1:{self.temporal_port}"
        self.log_path = folder / "wegent-up.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WEGENT_", "EXECUTOR_", "OPENAI_", "MAX_CONC"))}
        env.update(
            {
                "WEGENT_STATE_DIR": str(self.state),
                "WEGENT_TEMPORAL_ADDRESS": self.temporal_address,
                "WEGENT_CONFIG_DIR": str(folder / "cli"),
                "EXECUTOR_PORT_RANGE_MIN": EXECUTOR_PORTS[0],
                "EXECUTOR_PORT_RANGE_MAX": EXECUTOR_PORTS[1],
                "WEGENT_LOG_LEVEL": "INFO",
                "WEGENT_LOG_FORMAT": "json",
            }
        )
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.children: dict[int, int] = {}
        self.children_commands: dict[int, str] = {}
        self.ready_seconds = 0.0

    def start(self, timeout: float = 120.0) -> Up:
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    WEGENT,
                    "up",
                    "--port",
                    str(self.api_port),
                    "--ui-port",
                    str(self.ui_port),
                    "--model-port",
                    str(self.model_port),
                ],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # like a terminal: Ctrl-C goes to this process group
            )
        ready = self.state / "ready"
        while not ready.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"`wegent up` exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() - began > timeout:
                raise AssertionError(f"`wegent up` not ready after {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.1)
        self.ready_seconds = time.monotonic() - began
        print(f"wegent up ready in {self.ready_seconds:.1f}s", file=sys.stderr)
        assert httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
        return self

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as in a terminal; asserts a clean exit with no process left behind."""
        assert self.proc is not None
        self.children = _descendants(self.proc.pid)
        self.children_commands = {pid: _command(pid) for pid in self.children}
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"`wegent up` did not stop within {timeout:.0f}s of SIGINT:\n{self.tail()}") from None
        deadline = time.monotonic() + 5
        left = {pid: start for pid, start in self.children.items() if _proc_start_time(pid) == start}
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = {pid: start for pid, start in left.items() if _proc_start_time(pid) == start}
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes left after Ctrl-C: {[_command(p) for p in left]}"
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            children = _descendants(self.proc.pid)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            for pid, start in children.items():
                if _proc_start_time(pid) == start:
                    os.kill(pid, signal.SIGKILL)

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    # ------------------------------------------------------------------------------------ API
    def admin_password(self) -> str:
        return (self.state / "admin_password").read_text().strip()

    def login(self, username: str = "admin", password: str | None = None) -> dict[str, str]:
        response = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": username, "password": password or self.admin_password()},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", headers=headers, timeout=30, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def wegent(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """The CLI as a user runs it, against this stack."""
        return subprocess.run(
            [WEGENT, *args], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    from worker.local_model import check

    # Never skipped: a missing local model is a provisioning failure (`make test` builds it, cached).
    assert check(run_binary=False) == 0, "the local model is not installed: run scripts/ensure_local_model.sh"
    stack = Up(tmp_path)
    yield stack
    stack.kill()


def _temporal_view(address: str, workflow_id: str) -> tuple[Any, list[str], str | None]:
    """(status, names of the completed activities in order, WegentState search attribute) from Temporal."""
    from temporalio.client import Client

    from wegent.temporal import search_attributes as sa

    async def run() -> tuple[Any, list[str], str | None]:
        client = await Client.connect(address, namespace="default")
        handle = client.get_workflow_handle(workflow_id)
        description = await handle.describe()
        scheduled: dict[int, str] = {}
        completed: list[str] = []
        async for event in handle.fetch_history_events():
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            elif event.HasField("activity_task_completed_event_attributes"):
                completed.append(scheduled[event.activity_task_completed_event_attributes.scheduled_event_id])
        return description.status, completed, description.typed_search_attributes.get(sa.STATE)

    return asyncio.run(run())


def _assert_children(up: Up, *needles: str) -> None:
    """The processes that stop() saw (and saw gone) include one per ``needle`` in its command line."""
    commands = [up.children_commands[pid] for pid in up.children]
    for needle in needles:
        assert any(needle in c for c in commands), f"no {needle!r} among the children: {commands}"


def _assert_pipeline_answers(task: dict[str, Any]) -> None:
    assert task["state"] == "COMPLETED", task.get("error")
    answers = [m for m in task["messages"] if m["role"] == "assistant" and m["status"] == "done"]
    assert [m["bot"] for m in answers] == PIPELINE_BOTS, [(m["bot"], m["status"]) for m in task["messages"]]
    for message in answers:
        assert message["content"].strip(), f"{message['bot']} gave an empty answer"
        assert message["usage"]["outputTokens"] > 0


def test_up_serves_the_demo_pipeline_on_the_local_model(up: Up) -> None:
    from temporalio.client import WorkflowExecutionStatus

    # This `wegent up` gets a second person (alice, below): local executors then run unsandboxed agents for
    # more than one user, which the operator must accept explicitly (tests/e2e/test_unsandboxed.py refuses it).
    up.env["WEGENT_ALLOW_UNSANDBOXED"] = "1"
    up.start()
    banner = up.output()
    assert "Wegent is up." in banner
    assert f"http://127.0.0.1:{up.ui_port}" in banner
    assert f"admin / {up.admin_password()}" in banner
    assert f"http://127.0.0.1:{up.model_port}/v1" in banner

    # The Temporal web console and the local model's OpenAI-compatible API (key required) are up.
    assert httpx.get(f"http://127.0.0.1:{up.ui_port}/", timeout=10).status_code == 200
    # The console's Data Encoder is preset to the API's codec endpoint.
    ui_settings = httpx.get(f"http://127.0.0.1:{up.ui_port}/api/v1/settings", timeout=10).json()
    assert ui_settings["Codec"]["Endpoint"] == f"{up.url}/api/v1/codec/"
    key = (up.state / "local_model_key").read_text().strip()
    models = httpx.get(f"http://127.0.0.1:{up.model_port}/v1/models", timeout=10)
    assert models.status_code == 401
    models = httpx.get(
        f"http://127.0.0.1:{up.model_port}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert models.status_code == 200 and models.json()["data"][0]["id"] == "smollm2-135m-instruct"

    # The demo resources are public: a brand-new user sees them and runs the pipeline from the CLI.
    admin = up.login()
    public = up.get("/api/v1/namespaces/default/teams", admin, params={"scope": "public"})
    assert {"demo-solo", "demo-pipeline"} <= {t["metadata"]["name"] for t in public["items"]}
    model = up.get("/api/v1/namespaces/default/models/local", admin)
    assert model["spec"]["apiKey"] == "***" and model["spec"]["maxTokens"] <= 128
    created = httpx.post(
        f"{up.url}/api/v1/admin/users",
        json={"username": "alice", "password": "alice-password", "role": "user"},
        headers=admin,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    login = up.wegent("login", "--server", up.url, "-u", "alice", "-p", "alice-password")
    assert login.returncode == 0, login.stderr

    began = time.monotonic()
    run = up.wegent("run", "--team", "demo-pipeline", "Plan a weekend trip to Lisbon")
    print(f"pipeline task took {time.monotonic() - began:.1f}s", file=sys.stderr)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}\nwegent up:\n{up.tail()}"
    headers = re.findall(r"^── (\S+) \(step (\d)\) ──$", run.stdout, re.MULTILINE)
    assert headers == [(bot, str(i + 1)) for i, bot in enumerate(PIPELINE_BOTS)], run.stdout
    assert "[COMPLETED]" in run.stderr
    task_id = int(re.search(r"task (\d+) started", run.stderr).group(1))  # type: ignore[union-attr]

    alice = up.login("alice", "alice-password")
    task = up.get(f"/api/v1/tasks/{task_id}", alice)
    _assert_pipeline_answers(task)
    # Each streamed answer is the stored one.
    for message in task["messages"]:
        if message["role"] == "assistant":
            assert message["content"].strip() in run.stdout
    assert task["consoleUrl"] == f"http://127.0.0.1:{up.ui_port}/namespaces/default/workflows/task-{task_id}"

    # The workflow is in the dev server that `wegent up` started, with its three agent steps.
    status, activities, state = _temporal_view(up.temporal_address, f"task-{task_id}")
    assert status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)  # open for follow-ups
    assert activities.count("run_agent_step") == 3
    assert state == "COMPLETED"

    # Ctrl-C stops everything, children included (stop() asserts that none is left).
    assert up.stop() == 0
    _assert_children(up, "llama-server", "start-dev", "-m executor")


def test_restart_mid_task_finishes_the_task(up: Up) -> None:
    # Longer answers, so the step that streams at Ctrl-C outlasts the worker's grace period and runs again later.
    up.env["WEGENT_LOCAL_MODEL_MAX_TOKENS"] = "256"
    up.start()
    admin = up.login()
    response = httpx.post(
        f"{up.url}/api/v1/tasks",
        json={"team": {"name": "demo-pipeline"}, "prompt": "Write a long story about a trip to Lisbon"},
        headers=admin,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    task_id = response.json()["id"]

    # Stop while the first stage is streaming (its executor is up and the model is generating).
    deadline = time.monotonic() + 120
    while True:
        task = up.get(f"/api/v1/tasks/{task_id}", admin)
        assert task["state"] not in TERMINAL, f"the task ended before the restart: {task['state']} {task.get('error')}"
        if any(m["role"] == "assistant" for m in task["messages"]):
            break
        assert time.monotonic() < deadline, f"no step started within 120s:\n{up.tail()}"
        time.sleep(0.05)
    assert up.stop() == 0
    _assert_children(up, "llama-server", "start-dev", "-m executor")

    with sqlite3.connect(up.state / "wegent.db") as db:
        (state,) = db.execute("SELECT state FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert state not in TERMINAL, f"the task was already {state} when the stack stopped"

    up.start()
    deadline = time.monotonic() + 300
    while True:
        task = up.get(f"/api/v1/tasks/{task_id}", up.login())
        if task["state"] in TERMINAL:
            break
        assert time.monotonic() < deadline, f"task {task_id} stayed {task['state']} after the restart:\n{up.tail()}"
        time.sleep(0.2)
    _assert_pipeline_answers(task)
    _, activities, _ = _temporal_view(up.temporal_address, f"task-{task_id}")
    assert activities.count("run_agent_step") == 3
    assert up.stop() == 0
