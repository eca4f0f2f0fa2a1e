"""A real Wegent deployment for end-to-end tests: the API under uvicorn and a worker, as subprocesses.

Each stack gets its own Temporal task queue and executor host id, so several stacks (say, one with Docker
executors and one with local ones) share the test database and the Temporal dev server without stealing
each other's work.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def kill(self) -> None:
        """kill -9, as a crashing host would."""
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def story(self, task_ids: set[int], prefixes: tuple[str, ...] = (), limit: int = 300) -> str:
        """What this process logged about those tasks, its warnings and errors, and events starting with one of
        `prefixes`: the part of a log that explains a task that hung (a tail shows only the last moments)."""
        kept = []
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                kept.append(line)  # a traceback or a line outside structlog
                continue
            if not isinstance(entry, dict):
                continue
            if (
                entry.get("task_id") in task_ids
                or entry.get("level") in {"warning", "error", "critical"}
                or (prefixes and str(entry.get("event", "")).startswith(prefixes))
            ):
                kept.append(line)
        return "\n".join(kept[-limit:])


class Stack:
    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "stack") -> None:
        self.name = f"{name}-{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "WEGENT_TASK_QUEUE": f"wegent-tasks-{self.name}",
            "WEGENT_EXECUTOR_HOST": f"host-{self.name}",
            "WEGENT_LOG_LEVEL": "INFO",
            **env,
        }
        self.api: Process | None = None
        self.workers: list[Process] = []
        self.headers: dict[str, str] = {}

    def start(self, workers: int = 1, api_workers: int = 1) -> Stack:
        """The API as `wegent api` runs it (``api_workers`` processes on one port) and ``workers`` workers."""
        self.api = Process(
            f"{self.name}-api",
            [
                *(sys.executable, "-m", "cli.main", "api", "--host", "127.0.0.1", "--port", str(self.port)),
                *("--workers", str(api_workers)),
            ],
            self.env,
            self.log_dir,
        )
        for _ in range(workers):
            self.start_worker()
        self._wait_ready()
        password = self.env["WEGENT_ADMIN_PASSWORD"]
        self.headers = self.login(self.env["WEGENT_ADMIN_USERNAME"], password)
        return self

    def start_worker(self, extra_env: dict[str, str] | None = None) -> Process:
        index = len(self.workers)
        worker = Process(
            f"{self.name}-worker{index}",
            [sys.executable, "-m", "cli.main", "worker"],  # `wegent worker`, as operators start it
            {**self.env, **(extra_env or {})},
            self.log_dir,
        )
        self.workers.append(worker)
        return worker

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.api is not None
            if not self.api.alive():
                raise RuntimeError(f"API exited:\n{self.api.tail()}")
            try:
                # Started (migrations and all); /readyz may say a dependency is down on purpose.
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"API not ready after {timeout}s:\n{self.api.tail() if self.api else ''}")

    def login(self, username: str, password: str) -> dict[str, str]:
        response = httpx.post(f"{self.url}/api/v1/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", headers=headers or self.headers, timeout=30, **kwargs)

    def apply(self, text: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.request(
            "POST",
            "/api/v1/namespaces/default/apply",
            headers=headers,
            content=text.encode(),
            params={},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def create_task(self, team: str, prompt: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.request(
            "POST", "/api/v1/tasks", headers=headers, json={"team": {"name": team}, "prompt": prompt}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def task(self, task_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.request("GET", f"/api/v1/tasks/{task_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_state(self, task_id: int, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        task: dict[str, Any] = {}
        while time.monotonic() < deadline:
            task = self.task(task_id)
            if task["state"] in states:
                return task
            time.sleep(0.1)
        raise AssertionError(
            f"task {task_id} stayed {task.get('state')} (wanted {states}); what the stack logged about it:\n"
            + self.story(task_id)
        )

    def story(self, task_id: int) -> str:
        """What the API and each worker logged about one task, for a failure message."""
        parts = [p for p in (self.api, *self.workers) if p is not None]
        return "\n".join(f"--- {p.name}:\n{p.story({task_id})}" for p in parts)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.api:
            self.api.stop()
