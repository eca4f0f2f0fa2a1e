"""The model gateway (issue 16 item 2, issue 17 item 7): agents call models through it and never hold a key.

Real stacks, real sandboxes: each runtime (Chat, Agno, Dify, ClaudeCode) answers through the gateway from a Docker
sandbox whose processes' environments and arguments hold no Model key (ClaudeCode's own agent reads its
environment with a tool and finds none); a finished task's key is refused; a run crossing its owner's budget is
stopped mid-stream with a step error naming the limit, and its usage is recorded once.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from tests.e2e.conftest import DOCKER_HOST_ALIAS
from tests.e2e.teams import team_yaml
from tests.support.anthropic_script_server import AnthropicScriptServer, ToolUse, Turn
from tests.support.dify_server import DifyRule, DifyServer
from tests.support.stack import free_port

OPENAI_KEY = "sk-gateway-openai-secret-1234"
ANTHROPIC_KEY = "sk-ant-gateway-secret-5678"
DIFY_KEY = "app-gateway-dify-secret-9012"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, DIFY_KEY)
SLOW = " ".join(f"word{i}" for i in range(60))
# What an agent would run to find a key: every environment and command line it can see in its sandbox.
DUMP = "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' '\\n' < $f; echo; done 2>/dev/null; env"


@pytest.fixture(scope="module")
def claude_model() -> Iterator[AnthropicScriptServer]:
    with AnthropicScriptServer(api_key=ANTHROPIC_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def dify() -> Iterator[DifyServer]:
    server = DifyServer({DIFY_KEY: "chat"}).start()
    yield server
    server.stop()


def _bot_docs(p: str, name: str, shell: str, model_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"kind": "Model", "metadata": {"name": f"{p}-{name}"}, "spec": model_spec},
        {"kind": "Shell", "metadata": {"name": f"{p}-{name}"}, "spec": {"shellType": shell}},
        {"kind": "Ghost", "metadata": {"name": f"{p}-{name}"}, "spec": {"systemPrompt": f"You are {name}."}},
        {
            "kind": "Bot",
            "metadata": {"name": f"{p}-{name}"},
            "spec": {
                "ghostRef": {"name": f"{p}-{name}"},
                "shellRef": {"name": f"{p}-{name}"},
                "modelRef": {"name": f"{p}-{name}"},
            },
        },
        {
            "kind": "Team",
            "metadata": {"name": f"{p}-{name}"},
            "spec": {"collaborationModel": "solo", "members": [{"botRef": {"name": f"{p}-{name}"}}]},
        },
    ]


def _sandboxes() -> list[str]:
    scope = os.environ["WEGENT_TEMPORAL_NAMESPACE"]
    filters = ["--filter", "label=wegent.role=executor", "--filter", f"label=wegent.scope={scope}"]
    out = subprocess.run(["docker", "ps", "-q", *filters], capture_output=True, text=True, check=True)
    return out.stdout.split()


def _sandbox_dump(stack, task_id: int, timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
    """Every environment variable and argument of every process in every sandbox, read while the task runs.

    Every sandbox of the deployment, not just the task's: a warm one taken from the pool carries no task label.
    """
    deadline = time.monotonic() + timeout
    while stack.task(task_id)["state"] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the step is under way in its sandbox
    dumps = []
    for container in _sandboxes():
        out = subprocess.run(["docker", "exec", container, "sh", "-c", DUMP], capture_output=True, text=True)
        if out.returncode == 0:
            dumps.append(out.stdout)
    assert dumps and all("EXECUTOR_PORT" in d for d in dumps), f"no sandbox read for task {task_id}"
    return "\n".join(dumps)


def _run_and_dump(stack, team: str) -> tuple[dict[str, Any], str]:  # type: ignore[no-untyped-def]
    created = stack.create_task(team, "answer slowly please")
    dump = _sandbox_dump(stack, created["id"])
    return stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=240), dump


def test_every_runtime_answers_through_the_gateway_and_no_sandbox_holds_a_key(docker_stack, model, claude_model, dify):
    p = "gw" + uuid.uuid4().hex[:6]
    openai_spec = {"provider": "openai", "model": "scripted", "apiKey": OPENAI_KEY}
    docs = _bot_docs(p, "chat", "Chat", {**openai_spec, "baseUrl": f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"})
    docs += _bot_docs(p, "agno", "Agno", {**openai_spec, "baseUrl": f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"})
    docs += _bot_docs(
        p, "dify", "Dify", {"provider": "dify", "baseUrl": dify.url_for(DOCKER_HOST_ALIAS), "apiKey": DIFY_KEY}
    )
    claude_spec = {"provider": "anthropic", "baseUrl": claude_model.url_for(DOCKER_HOST_ALIAS), "model": "claude-t"}
    docs += _bot_docs(p, "claude", "ClaudeCode", {**claude_spec, "apiKey": ANTHROPIC_KEY})
    docker_stack.apply(yaml.safe_dump_all(docs))
    model.script([{"match": "*", "text": SLOW, "chunk_size": 8, "chunk_delay": 0.15}])
    dify.script([DifyRule(match="*", answer=SLOW, chunk_size=8, chunk_delay=0.15)])
    claude_model.script(
        [
            Turn(tool_uses=[ToolUse(name="Bash", input={"command": DUMP, "description": "look for keys"})]),
            Turn(text=SLOW, chunk_size=8, chunk_delay=0.15),
        ]
    )

    for name in ("chat", "agno", "dify", "claude"):
        task, dump = _run_and_dump(docker_stack, f"{p}-{name}")
        assert task["state"] == "COMPLETED", (name, task["error"])
        answer = [m for m in task["messages"] if m["role"] == "assistant"][-1]
        assert answer["content"].endswith(SLOW), name
        assert answer["usage"]["outputTokens"] > 0, name
        # The sandbox was reached: its own settings are in the dump, the gateway's URL and key too; no Model key.
        assert "EXECUTOR_PORT" in dump
        assert not [s for s in SECRETS if s in dump], name

    # Each provider saw its real key, added by the gateway on the host (never by the sandbox).
    assert {r.api_key for r in model.requests()} == {OPENAI_KEY}
    assert {r.api_key for r in dify.requests()} == {DIFY_KEY}
    assert {r.api_key for r in claude_model.requests()} == {ANTHROPIC_KEY}
    # ClaudeCode's agent looked for keys with its Bash tool: the result it sent back holds the gateway's
    # address and its task key, and no Model key.
    seen = json.dumps([r.body for r in claude_model.requests("agent")])
    assert "ANTHROPIC_BASE_URL=http://host.docker.internal:" in seen
    assert "wgx." in seen
    assert not [s for s in SECRETS if s in seen]


def _gateway_key(task_id: int, model_name: str) -> str:
    from activities.tokens import GatewayScope, gateway_key
    from core.db.models import Resource
    from core.db.session import get_sessionmaker

    with get_sessionmaker()() as db:
        model_id = db.scalar(select(Resource.id).where(Resource.kind == "Model", Resource.name == model_name))
    return gateway_key(f"task-{task_id}", GatewayScope(task_id, int(model_id), 1, 1, 1))


def _local_executor_dumps() -> list[str]:
    """Environment and arguments of every local executor process on this machine (forked from a zygote, or
    started as ``python -m executor``)."""
    dumps = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"executor.zygote" in cmdline or b"-m\x00executor\x00" in cmdline + b"\x00":
            dumps.append((environ + b"\n" + cmdline).decode(errors="replace"))
    return dumps


def _call(port: int, key: str) -> httpx.Response:
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        trust_env=False,
    )


def test_a_task_key_works_while_the_task_runs_and_is_refused_once_it_is_over(stack_factory, model):
    port = free_port()
    stack = stack_factory("local", WEGENT_GATEWAY_PORT=str(port))
    p = "gk" + uuid.uuid4().hex[:6]
    stack.apply(team_yaml(p, model.openai_base_url, [{"bot": "one"}], collaboration="solo", api_key=OPENAI_KEY))
    model.script([{"match": "slowly", "text": SLOW, "chunk_size": 4, "chunk_delay": 0.1}])
    created = stack.create_task(f"{p}-team", "answer slowly")
    deadline = time.monotonic() + 60
    while not model.requests() and time.monotonic() < deadline:
        time.sleep(0.1)
    key = _gateway_key(created["id"], f"{p}-model")
    # The local executor (its own process) holds no Model key in its environment or arguments either.
    executors = _local_executor_dumps()
    assert executors and not [d for d in executors if OPENAI_KEY in d]

    running = _call(port, key)  # the task runs: its key is forwarded with the Model's real key
    assert running.status_code == 200, running.text
    assert model.requests()[-1].api_key == OPENAI_KEY

    forged = _call(port, key[:-4] + "0000")
    assert forged.status_code == 401
    assert forged.json()["error"]["message"] == "missing or invalid gateway key"
    other_task = _call(port, _gateway_key(created["id"] + 100000, f"{p}-model"))
    assert other_task.status_code == 401

    task = stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=90)
    assert task["state"] == "COMPLETED", task["error"]
    finished = _call(port, key)
    assert finished.status_code == 403
    assert finished.json()["error"] == {
        "message": f"task {created['id']} is COMPLETED: its model access has ended",
        "type": "task_finished",
        "code": "task_finished",
    }
    assert len(model.requests()) == 2  # the refused calls never reached the model


def test_a_stream_crossing_the_budget_is_stopped_with_a_step_error_and_counted_once(docker_stack, model):
    name, password = "gb" + uuid.uuid4().hex[:6], "pw-" + uuid.uuid4().hex
    made = docker_stack.request("POST", "/api/v1/admin/users", json={"username": name, "password": password})
    assert made.status_code == 201, made.text
    user = docker_stack.login(name, password)
    quota = docker_stack.request("PUT", f"/api/v1/admin/users/{made.json()['id']}/quota", json={"monthlyTokens": 40})
    assert quota.status_code == 200, quota.text
    base_url = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"
    docker_stack.apply(team_yaml(name, base_url, [{"bot": "one"}], collaboration="solo"), headers=user)
    long_answer = " ".join(f"token{i}" for i in range(400))  # about 700 tokens at four characters a token
    model.script([{"match": "*", "text": long_answer, "chunk_size": 16, "chunk_delay": 0.02}])

    created = docker_stack.create_task(f"{name}-team", "write a lot", headers=user)
    task = docker_stack.wait_state(created["id"], {"COMPLETED", "FAILED"}, timeout=120)
    assert task["state"] == "FAILED", task
    assert "monthly token budget of 40 reached" in task["error"]
    assert len(model.requests()) == 1  # stopped, not retried
    request = model.requests()[0]
    assert request.disconnected and not request.completed  # the gateway closed the stream mid-way
    answer = [m for m in task["messages"] if m["role"] == "assistant"][-1]
    assert answer["status"] == "error" and "monthly token budget of 40 reached" in answer["content"]
    used = answer["usage"]["inputTokens"] + answer["usage"]["outputTokens"]
    assert 40 <= used < 200  # what flowed until the stop, counted once
    mine = docker_stack.request("GET", "/api/v1/users/me/quota", headers=user).json()
    assert mine["tokens"]["used"] == used
    assert task["usage"]["inputTokens"] + task["usage"]["outputTokens"] == used
