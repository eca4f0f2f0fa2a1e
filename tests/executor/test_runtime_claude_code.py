"""ClaudeCode runtime failure paths and settings, with the real ``claude`` CLI in an in-process executor.

The happy path (editing a cloned repository, resuming, cancelling) runs in tests/backends/test_claude_code.py,
in the real container and in a local executor.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from executor.app import create_app
from executor.client import ExecutorClient
from executor.runtimes.base import RunFailed
from executor.runtimes.claude_cli import anthropic_base_url, cli_env, find_claude, mcp_config
from tests.support.anthropic_script_server import AnthropicScriptServer, Turn
from tests.support.model_server import ServerThread
from wegent.events import EventType, RunEvent
from wegent.executor_api import HistoryMessage, ModelConfig, RunRequest

TOKEN = "cc-runtime-executor-token"
MODEL_KEY = "sk-ant-runtime-test-key"


@pytest.fixture(scope="module")
def model_server() -> Iterator[AnthropicScriptServer]:
    with AnthropicScriptServer(host="127.0.0.1", api_key=MODEL_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _isolated(model_server: AnthropicScriptServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_server.reset()
    monkeypatch.setenv("WEGENT_CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    try:
        find_claude()
    except RunFailed as exc:
        pytest.fail(exc.message, pytrace=False)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[ExecutorClient]:
    (tmp_path / "work").mkdir()
    server = ServerThread(create_app(TOKEN, tmp_path / "work"), "127.0.0.1")
    server.start()
    try:
        async with ExecutorClient(server.url, TOKEN, retries=0) as executor:
            yield executor
    finally:
        server.stop()


def cc_request(server: AnthropicScriptServer, prompt: str = "hello", **fields: object) -> RunRequest:
    model = ModelConfig(provider="anthropic", base_url=f"{server.url}/v1", model="claude-test", api_key=MODEL_KEY)
    for key in ("api_key", "provider"):
        if key in fields:
            setattr(model, key, fields.pop(key))
    return RunRequest(run_id=f"cc-{uuid.uuid4().hex[:10]}", runtime="ClaudeCode", model=model, prompt=prompt, **fields)  # type: ignore[arg-type]


async def run(client: ExecutorClient, request: RunRequest, max_wait: float = 90.0) -> list[RunEvent]:
    await client.start_run(request)

    async def collect() -> list[RunEvent]:
        return [event async for event in client.stream_events(request.run_id)]

    return await asyncio.wait_for(collect(), max_wait)


async def test_a_rejected_key_fails_fast_and_never_leaks(
    client: ExecutorClient, model_server: AnthropicScriptServer
) -> None:
    wrong = "sk-ant-wrong-key-must-not-leak"
    started = time.monotonic()
    events = await run(client, cc_request(model_server, api_key=wrong))
    error = events[-1]
    assert error.type is EventType.ERROR, error
    assert error.data["code"] == "model_auth" and error.data["retryable"] is False
    assert "HTTP 401" in error.data["message"]
    assert wrong not in error.model_dump_json()
    # The CLI alone would retry a rejected key with backoff for minutes.
    assert time.monotonic() - started < 30
    assert all(r.status == 401 for r in model_server.requests("agent"))


async def test_an_overloaded_model_is_a_retryable_error(
    client: ExecutorClient, model_server: AnthropicScriptServer
) -> None:
    model_server.script([Turn(status=529, error_type="overloaded_error", error_message="Overloaded")] * 3)
    events = await run(client, cc_request(model_server, options={"max_retries": 0}))
    assert events[-1].type is EventType.ERROR
    assert events[-1].data["code"] == "model_unavailable" and events[-1].data["retryable"] is True
    assert "529" in events[-1].data["message"]
    assert not any(e.type is EventType.TEXT for e in events)  # the CLI's rendering of the error is not an answer


async def test_a_lost_session_starts_over_with_the_transcript(
    client: ExecutorClient, model_server: AnthropicScriptServer
) -> None:
    model_server.script([Turn(text="Starting over, with the context.")])
    gone = str(uuid.uuid4())
    history = [
        HistoryMessage(role="user", content="Remember the word pineapple."),
        HistoryMessage(role="assistant", content="Noted: pineapple."),
    ]
    events = await run(client, cc_request(model_server, "Which word?", session_id=gone, history=history))
    assert events[0].data["session_id"] == gone
    done = events[-1]
    assert done.type is EventType.DONE, done
    assert done.data["output"] == "Starting over, with the context."
    assert done.data["session_id"] != gone and uuid.UUID(done.data["session_id"])
    (asked,) = model_server.requests("agent")
    first = str(asked.messages[0]["content"])
    assert "Remember the word pineapple." in first and "Noted: pineapple." in first and "Which word?" in first


async def test_a_foreign_session_id_is_not_resumed(client: ExecutorClient, model_server: AnthropicScriptServer) -> None:
    model_server.script([Turn(text="Fresh start.")])
    history = [HistoryMessage(role="user", content="Earlier question"), HistoryMessage(role="assistant", content="A")]
    events = await run(client, cc_request(model_server, "Next?", session_id="task-7-t1-s0-a1-r1", history=history))
    assert events[-1].type is EventType.DONE and events[-1].data["output"] == "Fresh start."
    assert uuid.UUID(events[0].data["session_id"]) and events[-1].data["session_id"] == events[0].data["session_id"]
    (asked,) = model_server.requests("agent")
    assert "Earlier question" in str(asked.messages[0]["content"])


async def test_configuration_errors(
    client: ExecutorClient, model_server: AnthropicScriptServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = await run(client, cc_request(model_server, provider="openai"))
    assert events[-1].data["code"] == "model_config" and "provider" in events[-1].data["message"]

    events = await run(client, cc_request(model_server, options={"permission_mode": "yolo"}))
    assert events[-1].data["code"] == "invalid_request"

    monkeypatch.setenv("WEGENT_CLAUDE_BIN", "/nonexistent/claude")
    events = await run(client, cc_request(model_server))
    assert events[-1].type is EventType.ERROR and events[-1].data["code"] == "runtime_unavailable"
    assert "/nonexistent/claude" in events[-1].data["message"]
    assert model_server.requests("agent") == []


def test_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR_TOKEN", "executor-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "host-key")
    monkeypatch.setenv("ANTHROPIC_BEDROCK_BASE_URL", "https://elsewhere")
    model = ModelConfig(
        provider="anthropic",
        base_url="https://gateway.example/anthropic/v1/",
        model="claude-x",
        api_key="model-key",
        max_tokens=2048,
        extra={"headers": {"X-Team": "wegent"}, "auth": "bearer"},
    )
    env = cli_env(model, {})
    assert "EXECUTOR_TOKEN" not in env and "ANTHROPIC_BEDROCK_BASE_URL" not in env
    assert "ANTHROPIC_API_KEY" not in env and env["ANTHROPIC_AUTH_TOKEN"] == "model-key"
    assert env["ANTHROPIC_BASE_URL"] == "https://gateway.example/anthropic"
    assert env["ANTHROPIC_MODEL"] == env["ANTHROPIC_SMALL_FAST_MODEL"] == "claude-x"
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "2048"
    assert env["ANTHROPIC_CUSTOM_HEADERS"] == "X-Team: wegent"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1" and env["DISABLE_TELEMETRY"] == "1"
    assert env["DISABLE_AUTOUPDATER"] == "1" and env["CLAUDE_CONFIG_DIR"]
    assert anthropic_base_url("http://h:1/v1/messages") == "http://h:1"
    assert '"type": "http"' in mcp_config({"docs": {"url": "http://mcp.local/mcp"}})
