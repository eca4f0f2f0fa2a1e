"""The fakes' wire shapes themselves: OpenAI tool-call scripting in the model server, and the Dify server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.executor.conftest import MODEL_KEY
from tests.support.dify_server import DifyServer
from tests.support.model_server import ModelServer

AUTH = {"Authorization": f"Bearer {MODEL_KEY}"}
CHAT_KEY = "app-fake-chat"
FLOW_KEY = "app-fake-flow"


def sse_payloads(text: str) -> list[Any]:
    return [json.loads(line.removeprefix("data: ")) for line in text.splitlines() if line.startswith("data: {")]


async def test_openai_tool_calls_stream_then_answer_after_the_result(model_server: ModelServer) -> None:
    model_server.script(
        [{"match": "sum", "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}, "id": "call_1"}], "text": "3"}]
    )
    url = f"{model_server.openai_base_url}/chat/completions"
    body: dict[str, Any] = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "sum please"}],
        "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}],
    }
    async with httpx.AsyncClient() as http:
        first = await http.post(url, json=body, headers=AUTH)
        chunks = sse_payloads(first.text)
        assert first.text.rstrip().endswith("data: [DONE]")
        deltas = [c["choices"][0] for c in chunks if c["choices"]]
        header = deltas[1]["delta"]["tool_calls"][0]
        assert header == {"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": ""}}
        arguments = "".join(
            d["delta"]["tool_calls"][0]["function"]["arguments"] for d in deltas[2:] if d["delta"].get("tool_calls")
        )
        assert json.loads(arguments) == {"a": 1, "b": 2}
        assert deltas[-1]["finish_reason"] == "tool_calls"
        assert not any(d["delta"].get("content") for d in deltas)
        assert chunks[-1]["usage"]["completion_tokens"] > 0

        call = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": arguments}}
        body["messages"] += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "3"},
        ]
        second = await http.post(url, json=body, headers=AUTH)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in sse_payloads(second.text) if c["choices"])
        assert text == "3"

        blocking = await http.post(url, json={**body, "stream": False, "messages": body["messages"][:1]}, headers=AUTH)
        choice = blocking.json()["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 1, "b": 2}'}

    log = model_server.requests()
    assert log[1].messages[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "3"}


@pytest.fixture(scope="module")
def dify() -> Iterator[DifyServer]:
    server = DifyServer({CHAT_KEY: "chat", FLOW_KEY: "workflow"}, host="127.0.0.1").start()
    yield server
    server.stop()


async def test_dify_chat_wire_shape_and_conversations(dify: DifyServer) -> None:
    dify.reset()
    url = f"{dify.base_url}/v1/chat-messages"
    headers = {"Authorization": f"Bearer {CHAT_KEY}"}
    body = {"inputs": {}, "query": "hi there", "response_mode": "streaming", "user": "u1", "conversation_id": ""}
    async with httpx.AsyncClient() as http:
        first = await http.post(url, json=body, headers=headers)
        assert first.headers["content-type"].startswith("text/event-stream")
        assert first.text.startswith("event: ping\n\n")  # keep-alives carry no data
        events = sse_payloads(first.text)
        assert {e["event"] for e in events[:-1]} == {"message"} and events[-1]["event"] == "message_end"
        assert "".join(e["answer"] for e in events[:-1]) == "echo: hi there"
        conversation, task = events[0]["conversation_id"], events[0]["task_id"]
        assert all(e["conversation_id"] == conversation and e["task_id"] == task for e in events)
        usage = events[-1]["metadata"]["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"], usage["currency"]) == (2, 3, "USD")

        again = await http.post(url, json={**body, "query": "again", "conversation_id": conversation}, headers=headers)
        assert "".join(e.get("answer", "") for e in sse_payloads(again.text)) == "echo: again (previously: hi there)"
        other_user = await http.post(url, json={**body, "user": "u2", "conversation_id": conversation}, headers=headers)
        assert other_user.status_code == 404 and other_user.json()["message"] == "Conversation Not Exists."
        blocking = await http.post(url, json={**body, "response_mode": "blocking"}, headers=headers)
        assert (
            blocking.json()["answer"] == "echo: hi there" and blocking.json()["metadata"]["usage"]["total_tokens"] == 5
        )
        no_user = await http.post(url, json={**body, "user": ""}, headers=headers)
        assert no_user.status_code == 400 and no_user.json()["code"] == "invalid_param"
        wrong_route = await http.post(f"{dify.base_url}/v1/workflows/run", json=body, headers=headers)
        assert wrong_route.json() == {
            "code": "not_workflow_app",
            "message": "Please check if your app mode matches the right API route.",
            "status": 400,
        }
        no_key = await http.post(url, json=body)
        assert no_key.status_code == 401 and no_key.json()["code"] == "unauthorized"
        stop = await http.post(f"{url}/{task}/stop", json={"user": "u1"}, headers=headers)
        assert stop.json() == {"result": "success"}

    log = dify.requests()
    assert [r.status for r in log] == [200, 200, 404, 200, 400, 400, 401]
    assert (log[1].conversation_id, log[1].prior_turns) == (conversation, 1)
    (recorded,) = dify.stops()
    assert (recorded.task_id, recorded.user, recorded.known_task) == (task, "u1", True)


async def test_dify_workflow_wire_shape(dify: DifyServer) -> None:
    dify.reset()
    dify.script([{"answer": "done and dusted", "chunk_size": 5}])
    headers = {"Authorization": f"Bearer {FLOW_KEY}"}
    body = {"inputs": {"query": "go"}, "response_mode": "streaming", "user": "u1"}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{dify.base_url}/v1/workflows/run", json=body, headers=headers)
        chat_route = await http.post(f"{dify.base_url}/v1/chat-messages", json={**body, "query": "x"}, headers=headers)
    events = sse_payloads(response.text)
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["workflow_started", "node_started"] and kinds[-2:] == ["node_finished", "workflow_finished"]
    assert "".join(e["data"]["text"] for e in events if e["event"] == "text_chunk") == "done and dusted"
    finished = events[-1]["data"]
    assert finished["status"] == "succeeded" and finished["outputs"] == {"text": "done and dusted"}
    assert finished["total_tokens"] > 0
    assert chat_route.json()["code"] == "not_chat_app"
