"""The fake provider itself: protocol shapes, scripting, control API and the out-of-process entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.executor.conftest import MODEL_KEY
from tests.executor.test_executor_process import free_port
from tests.support.model_server import ModelServer, ModelServerClient

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {MODEL_KEY}"}


def sse_data(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


async def test_openai_streaming_shape(model_server: ModelServer) -> None:
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi there"}],
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{model_server.openai_base_url}/chat/completions", json=body, headers=AUTH)
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "echo: hi there"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


async def test_openai_without_usage_option_sends_no_usage(model_server: ModelServer) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{model_server.openai_base_url}/chat/completions", json=body, headers=AUTH)
    chunks = [json.loads(d) for d in sse_data(response.text)[:-1]]
    assert all("usage" not in c for c in chunks)


async def test_openai_non_streaming_and_errors(model_server: ModelServer) -> None:
    model_server.script([{"match": "fail", "status": 500}, {"match": "*", "text": "fine thanks"}])
    url = f"{model_server.openai_base_url}/chat/completions"
    async with httpx.AsyncClient() as http:
        ok = await http.post(url, json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}, headers=AUTH)
        failed = await http.post(
            url, json={"model": "m", "messages": [{"role": "user", "content": "fail"}]}, headers=AUTH
        )
        bad_key = await http.post(url, json={"model": "m", "messages": []}, headers={"Authorization": "Bearer no"})
        malformed = await http.post(url, content=b"not json", headers=AUTH)
    assert ok.json()["choices"][0]["message"]["content"] == "fine thanks"
    assert ok.json()["usage"]["total_tokens"] == 3
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "server_error"
    assert bad_key.status_code == 401 and bad_key.json()["error"]["code"] == "invalid_api_key"
    assert malformed.status_code == 400
    assert [r.status for r in model_server.requests()] == [200, 500, 401, 400]


async def test_anthropic_protocol_checks_and_stream(model_server: ModelServer) -> None:
    url = f"{model_server.url}/v1/messages"
    body = {"model": "claude", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "yo"}]}
    headers = {"x-api-key": MODEL_KEY}
    async with httpx.AsyncClient() as http:
        no_version = await http.post(url, json=body, headers=headers)
        ok = await http.post(url, json=body, headers={**headers, "anthropic-version": "2023-06-01"})
    assert no_version.status_code == 400 and no_version.json()["type"] == "error"
    events = [line.removeprefix("event: ") for line in ok.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "content_block_delta" in events and "message_delta" in events


async def test_control_api_over_http(model_server: ModelServer) -> None:
    control = ModelServerClient(model_server.url)
    control.script([{"match": "ping", "text": "pong"}])
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{model_server.openai_base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "ping"}]},
            headers=AUTH,
        )
    assert response.json()["choices"][0]["message"]["content"] == "pong"
    await model_server.wait_for(lambda log: len(log) == 1 and log[0].completed)  # marked just after the last write
    (seen,) = control.requests()
    assert seen.api_key == MODEL_KEY and seen.model == "m" and seen.completed
    control.reset()
    assert control.requests() == []


def test_out_of_process_server() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.model_server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/models", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail("model server subprocess did not start")
                time.sleep(0.1)
        control = ModelServerClient(url)
        control.script([{"text": "scripted"}], api_key="k")
        denied = httpx.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": []}, timeout=5)
        allowed = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "q"}]},
            headers={"Authorization": "Bearer k"},
            timeout=5,
        )
        assert denied.status_code == 401
        assert allowed.json()["choices"][0]["message"]["content"] == "scripted"
        assert len(control.requests()) == 2
    finally:
        process.terminate()
        process.wait(timeout=10)
