"""`wegent api --workers N`: several API processes on one port behave as one API.

Rooms and live progress go through Redis, caches revalidate against the database, Socket.IO is
websocket-only (a long-polling session would hop between processes).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import STATE_DIR
from tests.e2e.teams import team_yaml
from tests.support.chat_client import ChatClient
from tests.support.stack import Stack

REDIS = {"WEGENT_REDIS_URL": "redis://127.0.0.1:6379/0"}
BASE = "/api/v1/namespaces/default"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    log_dir = STATE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {"WEGENT_EXECUTOR_BACKEND": "local", "WEGENT_EXECUTOR_IDLE_SECONDS": "0", "WEGENT_TASK_IDLE_SECONDS": "0"}
    started = Stack({**env, **REDIS}, log_dir, name="api-workers").start(workers=1, api_workers=2)
    yield started
    started.stop()


def _api_processes(stack: Stack) -> list[int]:
    assert stack.api is not None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == stack.api.proc.pid and b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _fresh_list(stack: Stack, headers: dict[str, str]) -> dict[str, str]:
    # A new connection each time, so the kernel spreads the requests over the processes.
    with httpx.Client(base_url=stack.url, headers=headers, trust_env=False) as client:
        response = client.get(f"{BASE}/ghosts")
        assert response.status_code == 200, response.text
        return {d["metadata"]["name"]: d["spec"]["systemPrompt"] for d in response.json()["items"]}


def test_the_api_serves_one_port_from_two_processes(stack):
    processes = _api_processes(stack)
    assert len(processes) == 2
    for _ in range(40):  # new connections: the kernel spreads them over the processes listening on the port
        _fresh_list(stack, stack.headers)
    assert stack.api is not None
    served = set()
    for line in stack.api.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "request" and record.get("path") == f"{BASE}/ghosts":
                served.add(record.get("pid"))
    assert served == set(processes), (served, processes)


def test_every_process_lists_the_latest_write(stack):
    name = "g" + uuid.uuid4().hex[:8]
    doc = {"kind": "Ghost", "metadata": {"name": name}, "spec": {"systemPrompt": "first"}}
    assert stack.request("POST", f"{BASE}/ghosts", json=doc).status_code == 201
    for _ in range(12):  # every process caches the LIST that holds "first"
        assert _fresh_list(stack, stack.headers)[name] == "first"
    current = stack.request("GET", f"{BASE}/ghosts/{name}").json()
    current["spec"]["systemPrompt"] = "second"
    assert stack.request("PUT", f"{BASE}/ghosts/{name}", json=current).status_code == 200
    seen = {_fresh_list(stack, stack.headers)[name] for _ in range(12)}
    assert seen == {"second"}
    assert stack.request("DELETE", f"{BASE}/ghosts/{name}").status_code == 200
    assert stack.request("GET", f"{BASE}/ghosts/{name}").status_code == 404
    assert all(name not in _fresh_list(stack, stack.headers) for _ in range(12))


def test_long_polling_is_refused_and_websocket_chat_streams(stack, model):
    polling = httpx.get(f"{stack.url}/socket.io/", params={"EIO": "4", "transport": "polling"}, trust_env=False)
    assert polling.status_code == 400

    model.script([{"match": "*", "text": "answer from a two-process API", "chunk_size": 4}])
    prefix = "w" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration="solo"))

    async def chat() -> tuple[dict, str]:
        client = await ChatClient(stack.url, stack.headers["Authorization"].split()[1]).connect()
        try:
            ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "hello"})
            assert ack["ok"], ack
            await client.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev))
            return ack, "".join(c["content"] for c in client.of("chat:chunk", task_id=ack["task_id"]))
        finally:
            await client.close()

    ack, text = asyncio.run(chat())
    assert text == "answer from a two-process API"
    task = stack.wait_state(ack["task_id"], {"COMPLETED"})
    assert task["messages"][-1]["content"] == text


def test_several_processes_without_redis_are_refused_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WEGENT_REDIS_URL"}
    env["WEGENT_STATE_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "api", "--port", "1", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "WEGENT_REDIS_URL" in result.stderr
