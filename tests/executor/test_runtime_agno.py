"""The Agno runtime end to end: executor HTTP API -> Agno agent -> the fake model provider (and a real MCP
server over stdio for tools), over real sockets and processes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from executor.app import create_app
from executor.client import ExecutorClient
from executor.runtimes import runtime_class
from executor.runtimes.agno_agent import SESSION_DB, AgnoRuntime
from tests.executor.conftest import EXECUTOR_TOKEN, MODEL_KEY, collect, run_request
from tests.support.model_server import ModelServer, ServerThread
from wegent.events import EventType, RunEvent
from wegent.executor_api import HistoryMessage, RunRequest, RunState

REPO_ROOT = Path(__file__).resolve().parents[2]
MCP_CALCULATOR = REPO_ROOT / "tests" / "support" / "mcp_calculator.py"


@pytest.fixture(scope="module")
def agno_workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # The session store follows $EXECUTOR_WORKDIR when set; here the executor's own workdir decides.
    saved = os.environ.pop("EXECUTOR_WORKDIR", None)
    yield tmp_path_factory.mktemp("agno-executor")
    if saved is not None:
        os.environ["EXECUTOR_WORKDIR"] = saved


@pytest.fixture(scope="module")
def agno_executor_url(agno_workdir: Path) -> Iterator[str]:
    server = ServerThread(create_app(EXECUTOR_TOKEN, agno_workdir), "127.0.0.1")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
async def agno_client(agno_executor_url: str) -> AsyncIterator[ExecutorClient]:
    async with ExecutorClient(agno_executor_url, EXECUTOR_TOKEN, retries=1, retry_backoff=0.05) as client:
        yield client


def agno_request(model_server: ModelServer, prompt: str, provider: str = "openai", **fields: Any) -> RunRequest:
    return run_request(model_server, prompt, provider=provider, runtime="Agno", **fields)


def calculator(env: dict[str, str] | None = None) -> dict[str, Any]:
    return {"calc": {"command": sys.executable, "args": [str(MCP_CALCULATOR)], "env": env or {}}}


def processes_with_env(marker: str) -> list[int]:
    """Live processes whose environment carries ``marker`` (our MCP servers, found without ps)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().split()[2]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(proc.name))
    return found


async def wait_gone(marker: str, max_wait: float = 5.0) -> None:
    for _ in range(int(max_wait / 0.05)):
        if not processes_with_env(marker):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"MCP server processes still alive: {processes_with_env(marker)}")


async def run_to_end(client: ExecutorClient, request: RunRequest) -> list[RunEvent]:
    await client.start_run(request)
    return await collect(client, request.run_id)


def text_of(events: list[RunEvent]) -> str:
    return "".join(e.data["delta"] for e in events if e.type is EventType.TEXT)


def test_agno_is_registered() -> None:
    assert runtime_class("Agno") is AgnoRuntime
    assert runtime_class("agno") is AgnoRuntime


async def test_openai_stream_with_instructions(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script([{"match": "capital", "text": "Paris is the capital of France.", "chunk_size": 5}])
    request = agno_request(model_server, "What is the capital of France?", system_prompt="Be brief.")
    events = await run_to_end(agno_client, request)

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    start, done = events[0], events[-1]
    assert start.type is EventType.START and start.data["run_id"] == request.run_id
    session_id = start.data["session_id"]
    assert session_id and session_id.startswith("agno-")
    assert len([e for e in events if e.type is EventType.TEXT]) == 7  # the model's chunks, passed through
    assert text_of(events) == "Paris is the capital of France."
    usage = next(e for e in events if e.type is EventType.USAGE)
    assert usage.data == {"input_tokens": 8, "output_tokens": 6}
    assert done.type is EventType.DONE
    assert done.data == {
        "output": "Paris is the capital of France.",
        "usage": {"input_tokens": 8, "output_tokens": 6},
        "session_id": session_id,
    }
    assert (await agno_client.status(request.run_id)).session_id == session_id

    # The server marks the request finished just after its last write: wait for that bookkeeping.
    (seen,) = await model_server.wait_for(lambda log: len(log) == 1 and (log[0].completed or log[0].disconnected))
    assert seen.path == "/v1/chat/completions" and seen.api_key == MODEL_KEY and seen.body["model"] == "fake-model"
    assert seen.body["stream"] is True
    assert seen.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert seen.completed and not seen.disconnected


async def test_anthropic_provider(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script([{"text": "Bonjour tout le monde", "chunk_size": 6}])
    request = agno_request(model_server, "say hello in French", provider="anthropic", system_prompt="You translate.")
    events = await run_to_end(agno_client, request)

    assert text_of(events) == "Bonjour tout le monde"
    done = events[-1]
    assert done.type is EventType.DONE and done.data["output"] == "Bonjour tout le monde"
    assert done.data["usage"] == {"input_tokens": 6, "output_tokens": 4}  # "You translate." + the prompt
    (seen,) = model_server.requests()
    assert seen.path == "/v1/messages" and seen.api_key == MODEL_KEY
    assert seen.system == "You translate."
    assert seen.body["stream"] is True and seen.body["max_tokens"] > 0


async def test_mcp_tool_round_trip(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script(
        [
            {"match": "add", "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 40}}], "text": "It is 42."},
            {"match": "whisper", "tool_calls": [{"name": "whisper", "arguments": {"text": "hi"}}], "text": "ok"},
        ]
    )
    marker = f"WEGENT_TEST_MCP_{uuid.uuid4().hex}"
    request = agno_request(model_server, "please add 2 and 40", mcp_servers=calculator({marker: "1"}))
    events = await run_to_end(agno_client, request)
    await wait_gone(marker)  # the MCP server lives only as long as the run

    kinds = [e.type for e in events]
    assert kinds[0] is EventType.START and kinds[-1] is EventType.DONE
    call = next(e for e in events if e.type is EventType.TOOL_CALL)
    result = next(e for e in events if e.type is EventType.TOOL_RESULT)
    assert call.data["name"] == "add" and call.data["arguments"] == {"a": 2, "b": 40}
    assert result.data == {"id": call.data["id"], "output": "42", "is_error": False}
    assert kinds.index(EventType.TOOL_CALL) < kinds.index(EventType.TOOL_RESULT) < kinds.index(EventType.TEXT)
    assert events[-1].data["output"] == "It is 42."

    first, follow_up = model_server.requests()
    # The model was offered the MCP server's tools...
    offered = {tool["function"]["name"] for tool in first.body["tools"]}
    assert offered == {"add", "whisper"}
    # ...and the request after the tool ran carries the call and its result.
    assistant, tool_message = follow_up.messages[-2:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["id"] == call.data["id"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 40}
    assert tool_message == {"role": "tool", "content": "42", "tool_call_id": call.data["id"]}
    # Usage is the run's total over both model requests.
    usage = events[-1].data["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0

    # The server's env from mcp_servers reaches the MCP process.
    request = agno_request(model_server, "whisper it", mcp_servers=calculator({"MCP_SECRET_SUFFIX": "-from-env"}))
    events = await run_to_end(agno_client, request)
    result = next(e for e in events if e.type is EventType.TOOL_RESULT)
    assert result.data["output"] == "secret:hi-from-env"


async def test_follow_up_resumes_the_agno_session(
    agno_client: ExecutorClient, model_server: ModelServer, agno_workdir: Path
) -> None:
    first = await run_to_end(agno_client, agno_request(model_server, "my name is Ada", system_prompt="sys"))
    session_id = first[-1].data["session_id"]

    # The history in the request is ignored: Agno's own session has the conversation.
    ignored = [HistoryMessage(role="user", content="not from the store")]
    request = agno_request(
        model_server, "what is my name?", system_prompt="sys", session_id=session_id, history=ignored
    )
    events = await run_to_end(agno_client, request)

    assert events[0].data["session_id"] == session_id
    assert events[-1].type is EventType.DONE and events[-1].data["session_id"] == session_id
    second = model_server.requests()[-1]
    assert second.messages == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "my name is Ada"},
        {"role": "assistant", "content": "echo: my name is Ada"},
        {"role": "user", "content": "what is my name?"},
    ]
    # Agno's session storage is a SQLite file under the executor's workdir.
    db = agno_workdir / SESSION_DB
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        sessions = [row[0] for row in conn.execute(f"SELECT session_id FROM {tables_named(tables, 'session')}")]
    assert session_id in sessions


def tables_named(tables: list[str], part: str) -> str:
    (table,) = [t for t in tables if part in t and "run" not in t]
    return table


async def test_unknown_session_is_seeded_from_history(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    history = [HistoryMessage(role="user", content="earlier question"), HistoryMessage(role="assistant", content="ok")]
    session_id = f"from-a-lost-executor-{uuid.uuid4().hex[:6]}"
    await run_to_end(agno_client, agno_request(model_server, "next", session_id=session_id, history=history))
    await run_to_end(agno_client, agno_request(model_server, "and then", session_id=session_id, history=history))

    seeded, resumed = model_server.requests()
    assert [m["content"] for m in seeded.messages] == ["earlier question", "ok", "next"]
    # Seeded once: the second turn replays the stored session, not the request's history again.
    assert [m["content"] for m in resumed.messages] == ["earlier question", "ok", "next", "echo: next", "and then"]


async def test_cancel_stops_the_run_and_closes_the_model_stream(
    agno_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"text": "this answer never finishes", "stall": True}])
    request = agno_request(model_server, "stall forever")
    await agno_client.start_run(request)
    seen = []
    async for event in agno_client.stream_events(request.run_id):
        seen.append(event)
        if event.type is EventType.TEXT:
            break  # the model now hangs after its first chunk
    status = await agno_client.cancel(request.run_id, reason="user pressed stop")
    rest = await collect(agno_client, request.run_id, after=seen[-1].seq)

    assert status.state is RunState.CANCELLED
    assert rest[-1].type is EventType.CANCELLED and rest[-1].data == {"reason": "user pressed stop"}
    assert not any(e.type is EventType.DONE for e in rest)
    log = await model_server.wait_for(lambda log: bool(log) and log[-1].disconnected, max_wait=5)
    assert not log[-1].completed


async def test_cancel_while_a_tool_loop_runs(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    # The answer after the tool call is slow; cancelling then also shuts the MCP server down.
    model_server.script(
        [{"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}], "text": "x" * 200, "chunk_delay": 0.05}]
    )
    marker = f"WEGENT_TEST_MCP_{uuid.uuid4().hex}"
    request = agno_request(model_server, "add slowly", mcp_servers=calculator({marker: "1"}))
    await agno_client.start_run(request)
    async for event in agno_client.stream_events(request.run_id):
        if event.type is EventType.TEXT:
            break
    assert processes_with_env(marker), "the MCP server should be running during the run"
    await agno_client.cancel(request.run_id)
    events = await collect(agno_client, request.run_id)
    assert events[-1].type is EventType.CANCELLED
    assert [e.type for e in events].count(EventType.TOOL_RESULT) == 1
    await model_server.wait_for(lambda log: len(log) == 2 and log[-1].disconnected)
    await wait_gone(marker)


async def test_model_errors_are_clear_and_classified(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script(
        [
            {"match": "gone", "status": 404, "error_message": "The model `fake-model` does not exist"},
            {"match": "boom", "status": 503},
            {"match": "busy", "status": 429},
        ]
    )
    cases = [
        (agno_request(model_server, "hello", api_key="sk-wrong-key-123"), "model_auth", False, "Incorrect API key"),
        (agno_request(model_server, "gone"), "model_config", False, "does not exist"),
        (agno_request(model_server, "boom"), "model_unavailable", True, "overloaded"),
        (agno_request(model_server, "busy"), "model_rate_limited", True, "Rate limit"),
        (
            agno_request(model_server, "hi", provider="anthropic", api_key="bad-anthropic-key"),
            "model_auth",
            False,
            "x-api-key",
        ),
    ]
    for request, code, retryable, detail in cases:
        events = await run_to_end(agno_client, request)
        error = events[-1]
        assert [e.type for e in events] == [EventType.START, EventType.ERROR], events
        assert (error.data["code"], error.data["retryable"]) == (code, retryable), error.data
        assert detail in error.data["message"]
        assert request.model.api_key not in error.data["message"]


async def test_network_failures_are_retryable(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    unreachable = agno_request(model_server, "hello", base_url="http://127.0.0.1:9/v1")
    error = (await run_to_end(agno_client, unreachable))[-1]
    assert (error.type, error.data["code"], error.data["retryable"]) == (EventType.ERROR, "model_connection", True)

    model_server.script([{"stall": True}])
    silent = agno_request(model_server, "hang", options={"read_timeout": 0.5})
    error = (await run_to_end(agno_client, silent))[-1]
    assert (error.type, error.data["code"], error.data["retryable"]) == (EventType.ERROR, "model_timeout", True)
    await model_server.wait_for(lambda log: log[-1].disconnected)


async def test_configuration_errors(agno_client: ExecutorClient, model_server: ModelServer) -> None:
    bad_provider = agno_request(model_server, "x")
    bad_provider.model.provider = "carrier-pigeon"
    broken_mcp = agno_request(
        model_server, "x", mcp_servers={"broken": {"command": "/nonexistent/mcp-server", "args": []}}
    )
    no_command = agno_request(model_server, "x", mcp_servers={"empty": {"args": ["x"]}})
    for request, code, detail in (
        (bad_provider, "model_config", "carrier-pigeon"),
        (broken_mcp, "mcp_unavailable", "'broken'"),
        (no_command, "invalid_request", "'command'"),
    ):
        events = await run_to_end(agno_client, request)
        assert [e.type for e in events] == [EventType.START, EventType.ERROR]
        assert events[-1].data["code"] == code and events[-1].data["retryable"] is False
        assert detail in events[-1].data["message"]
    assert model_server.requests() == []


async def test_session_store_stays_out_of_a_cloned_repository(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workspace clones the task's repository into the executor's workdir: the store must not appear in
    its status or diffs."""
    await asyncio.to_thread(subprocess.run, ["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.setenv("EXECUTOR_WORKDIR", str(tmp_path))
    events = [item async for item in AgnoRuntime(tmp_path).run(agno_request(model_server, "hi"))]
    assert events[-1].type is EventType.DONE
    assert (tmp_path / SESSION_DB).is_file()
    status = await asyncio.to_thread(
        subprocess.run,
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored=no"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""


async def test_session_store_follows_executor_workdir(
    model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: a run in a repository workdir still keeps its session under $EXECUTOR_WORKDIR."""
    executor_root, repo = tmp_path / "executor", tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("EXECUTOR_WORKDIR", str(executor_root))
    runtime = AgnoRuntime(repo)
    events = [item async for item in runtime.run(agno_request(model_server, "hi"))]
    assert events[-1].type is EventType.DONE
    assert (executor_root / SESSION_DB).is_file()
    assert not (repo / SESSION_DB).exists()


async def test_in_a_real_executor_process_logs_stay_json_and_secret_free(
    model_server: ModelServer, tmp_path: Path
) -> None:
    """``python -m executor`` as a subprocess: Agno's own log records come out as JSON lines like ours, without
    the key or the prompt, and the session store sits in $EXECUTOR_WORKDIR."""
    port = free_port()
    workdir = tmp_path / "workdir"
    env = {**os.environ, "EXECUTOR_TOKEN": EXECUTOR_TOKEN, "EXECUTOR_PORT": str(port), "EXECUTOR_WORKDIR": str(workdir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "executor", "--host", "127.0.0.1"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        model_server.script([{"match": "fail", "status": 503}])
        secret_prompt = "the vault code is 4242-SECRET"
        async with ExecutorClient(f"http://127.0.0.1:{port}", EXECUTOR_TOKEN) as client:
            await client.wait_healthy(max_wait=30)
            ok = await run_to_end(
                client, agno_request(model_server, secret_prompt, system_prompt="hidden instructions")
            )
            failed = await run_to_end(client, agno_request(model_server, "fail now"))
    finally:
        process.terminate()
        output, _ = await asyncio.to_thread(process.communicate, timeout=15)
    assert ok[-1].type is EventType.DONE and ok[-1].data["output"] == f"echo: {secret_prompt}"
    assert failed[-1].type is EventType.ERROR and failed[-1].data["code"] == "model_unavailable"
    lines = [line for line in output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is a JSON record
    agno_errors = [r for r in records if str(r.get("event")).startswith("Error in Agent run")]
    assert agno_errors and agno_errors[0]["run_id"] == failed[0].data["run_id"]  # Agno's own record, as JSON
    for secret in (MODEL_KEY, EXECUTOR_TOKEN, "4242-SECRET", "hidden instructions"):
        assert secret not in output
    assert (workdir / SESSION_DB).is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
