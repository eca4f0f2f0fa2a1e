"""The Dify runtime end to end: executor HTTP API -> runtime -> the scripted fake Dify, over real sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from executor.client import ExecutorClient
from executor.runtimes import runtime_class
from executor.runtimes.dify import DifyRuntime
from tests.executor.conftest import collect
from tests.support.dify_server import DifyServer
from wegent.events import EventType, RunEvent
from wegent.executor_api import ModelConfig, RunRequest, RunState

CHAT_KEY = "app-chat-0123456789abcdef"
AGENT_KEY = "app-agent-0123456789abcdef"
CHATFLOW_KEY = "app-chatflow-0123456789abcdef"
FLOW_KEY = "app-workflow-0123456789abcdef"


@pytest.fixture(scope="module")
def dify() -> Iterator[DifyServer]:
    apps = {CHAT_KEY: "chat", AGENT_KEY: "agent-chat", CHATFLOW_KEY: "advanced-chat", FLOW_KEY: "workflow"}
    server = DifyServer(apps, host="127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_dify(dify: DifyServer) -> None:
    dify.reset()


def dify_request(dify: DifyServer, prompt: str, api_key: str = CHAT_KEY, **fields: Any) -> RunRequest:
    extra = fields.pop("extra", {})
    base_url = fields.pop("base_url", dify.base_url)
    model = ModelConfig(provider="dify", base_url=base_url, api_key=api_key, extra=extra)
    return RunRequest(run_id=f"run-{uuid.uuid4().hex[:12]}", runtime="Dify", model=model, prompt=prompt, **fields)


async def run_to_end(client: ExecutorClient, request: RunRequest) -> list[RunEvent]:
    await client.start_run(request)
    return await collect(client, request.run_id)


def text_of(events: list[RunEvent]) -> str:
    return "".join(e.data["delta"] for e in events if e.type is EventType.TEXT)


def test_dify_is_registered() -> None:
    assert runtime_class("Dify") is DifyRuntime
    assert runtime_class("dify") is DifyRuntime


async def test_chat_streams_text_usage_and_reports_the_conversation(
    executor_client: ExecutorClient, dify: DifyServer
) -> None:
    dify.script([{"match": "capital", "answer": "Paris is the capital of France.", "chunk_size": 5}])
    request = dify_request(dify, "What is the capital of France?", extra={"inputs": {"lang": "en"}, "user": "u-7"})
    events = await run_to_end(executor_client, request)

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    (seen,) = dify.requests()
    conversation = seen.conversation_id
    assert conversation
    assert events[0].type is EventType.START
    assert events[0].data == {"run_id": request.run_id, "session_id": conversation}
    assert len([e for e in events if e.type is EventType.TEXT]) == 7
    assert text_of(events) == "Paris is the capital of France."
    usage = next(e for e in events if e.type is EventType.USAGE)
    assert usage.data == {"input_tokens": 6, "output_tokens": 6}  # the fake's word counts of query and answer
    done = events[-1]
    assert done.type is EventType.DONE
    assert done.data == {
        "output": "Paris is the capital of France.",
        "usage": {"input_tokens": 6, "output_tokens": 6},
        "session_id": conversation,
    }
    assert (await executor_client.status(request.run_id)).session_id == conversation

    assert seen.path == "/v1/chat-messages" and seen.api_key == CHAT_KEY
    await dify.wait_for(lambda s: s.requests()[0].ended is not None)
    seen = dify.requests()[0]
    assert seen.body == {
        "inputs": {"lang": "en"},
        "query": "What is the capital of France?",
        "response_mode": "streaming",
        "user": "u-7",
        "conversation_id": "",
    }
    assert seen.completed and not seen.disconnected


async def test_follow_up_continues_the_conversation(executor_client: ExecutorClient, dify: DifyServer) -> None:
    first = await run_to_end(executor_client, dify_request(dify, "my name is Ada"))
    conversation = first[-1].data["session_id"]

    follow_up = dify_request(dify, "what is my name?", session_id=conversation)
    events = await run_to_end(executor_client, follow_up)

    assert events[0].data["session_id"] == conversation  # known up front, announced at once
    assert events[-1].type is EventType.DONE
    assert events[-1].data["session_id"] == conversation
    assert events[-1].data["output"] == "echo: what is my name? (previously: my name is Ada)"
    second = dify.requests()[-1]
    assert second.body["conversation_id"] == conversation
    assert (second.conversation_id, second.prior_turns) == (conversation, 1)
    # Dify keeps the conversation, so no history travels with the query.
    assert second.body["query"] == "what is my name?"


async def test_unknown_conversation_is_a_clear_config_error(executor_client: ExecutorClient, dify: DifyServer) -> None:
    events = await run_to_end(executor_client, dify_request(dify, "hello", session_id="no-such-conversation"))
    assert [e.type for e in events] == [EventType.START, EventType.ERROR]
    error = events[-1].data
    assert (error["code"], error["retryable"]) == ("model_config", False)
    assert "404" in error["message"] and "Conversation Not Exists." in error["message"]


async def test_agent_app_tool_use_becomes_tool_events(executor_client: ExecutorClient, dify: DifyServer) -> None:
    dify.script(
        [
            {
                "answer": "It is 12:00 in UTC.",
                "thoughts": [
                    {"tool": "current_time", "tool_input": {"timezone": "UTC"}, "observation": "12:00"},
                ],
            }
        ]
    )
    events = await run_to_end(executor_client, dify_request(dify, "what time is it?", api_key=AGENT_KEY))

    kinds = [e.type for e in events]
    assert kinds[0] is EventType.START and kinds[-1] is EventType.DONE
    call = next(e for e in events if e.type is EventType.TOOL_CALL)
    result = next(e for e in events if e.type is EventType.TOOL_RESULT)
    assert call.data["name"] == "current_time" and call.data["arguments"] == {"timezone": "UTC"}
    assert result.data == {"id": call.data["id"], "output": "12:00", "is_error": False}
    assert kinds.index(EventType.TOOL_CALL) < kinds.index(EventType.TOOL_RESULT) < kinds.index(EventType.TEXT)
    assert len([e for e in events if e.type is EventType.TOOL_CALL]) == 1  # repeated thoughts announce once
    assert text_of(events) == "It is 12:00 in UTC."


async def test_chatflow_app_streams_between_workflow_events(executor_client: ExecutorClient, dify: DifyServer) -> None:
    events = await run_to_end(executor_client, dify_request(dify, "flow please", api_key=CHATFLOW_KEY))
    assert events[-1].type is EventType.DONE
    assert events[-1].data["output"] == "echo: flow please"
    assert events[-1].data["session_id"] == dify.requests()[0].conversation_id


async def test_workflow_mode_streams_text_chunks(executor_client: ExecutorClient, dify: DifyServer) -> None:
    dify.script([{"answer": "a summary of the text", "chunk_size": 6}])
    request = dify_request(
        dify,
        "summarise this",
        api_key=FLOW_KEY,
        extra={"appMode": "workflow", "inputs": {"style": "short"}, "queryVariable": "text"},
        session_id="sess-keep",
    )
    events = await run_to_end(executor_client, request)

    assert events[0].type is EventType.START and events[0].data["session_id"] == "sess-keep"
    assert text_of(events) == "a summary of the text"
    done = events[-1]
    assert done.type is EventType.DONE and done.data["output"] == "a summary of the text"
    # Workflows report a single total; it is counted as output tokens.
    (seen,) = dify.requests()
    assert done.data["usage"]["input_tokens"] == 0 and done.data["usage"]["output_tokens"] > 0
    assert seen.path == "/v1/workflows/run"
    assert seen.body == {
        "inputs": {"style": "short", "text": "summarise this"},
        "response_mode": "streaming",
        "user": "wegent",
    }


async def test_workflow_outputs_without_text_chunks_become_the_answer(
    executor_client: ExecutorClient, dify: DifyServer
) -> None:
    dify.script([{"outputs": {"result": "42"}}])
    request = dify_request(dify, "compute", api_key=FLOW_KEY, extra={"appMode": "workflow"})
    events = await run_to_end(executor_client, request)
    assert text_of(events) == "42"
    assert events[-1].data["output"] == "42"
    assert dify.requests()[0].body["inputs"] == {"query": "compute"}


async def test_failed_workflow_is_a_non_retryable_error(executor_client: ExecutorClient, dify: DifyServer) -> None:
    dify.script([{"workflow_status": "failed", "error_message": "Node LLM run failed: variable text is empty"}])
    request = dify_request(dify, "x", api_key=FLOW_KEY, extra={"appMode": "workflow"})
    events = await run_to_end(executor_client, request)
    error = events[-1]
    assert error.type is EventType.ERROR
    assert (error.data["code"], error.data["retryable"]) == ("model_error", False)
    assert "dify workflow failed" in error.data["message"] and "variable text is empty" in error.data["message"]


async def test_cancel_closes_the_stream_and_stops_the_dify_task(
    executor_client: ExecutorClient, dify: DifyServer
) -> None:
    dify.script([{"answer": "this answer never finishes", "stall": True}])
    request = dify_request(dify, "stall forever", extra={"user": "u-cancel"})
    await executor_client.start_run(request)
    seen = []
    async for event in executor_client.stream_events(request.run_id):
        seen.append(event)
        if event.type is EventType.TEXT:
            break  # Dify is now generating and the stream hangs
    status = await executor_client.cancel(request.run_id, reason="user pressed stop")
    rest = await collect(executor_client, request.run_id, after=seen[-1].seq)

    assert status.state is RunState.CANCELLED
    assert rest[-1].type is EventType.CANCELLED and rest[-1].data == {"reason": "user pressed stop"}
    await dify.wait_for(lambda s: bool(s.stops()) and s.requests()[0].ended is not None)
    (entry,) = dify.requests()
    (stop,) = dify.stops()
    assert stop.path == f"/v1/chat-messages/{entry.task_id}/stop"
    assert (stop.task_id, stop.user, stop.api_key, stop.known_task) == (entry.task_id, "u-cancel", CHAT_KEY, True)
    assert entry.disconnected and not entry.completed
    assert seen[0].data["session_id"] == entry.conversation_id


async def test_cancel_a_workflow_uses_the_workflow_stop_endpoint(
    executor_client: ExecutorClient, dify: DifyServer
) -> None:
    dify.script([{"outputs": {"text": "late"}, "stall": True}])
    request = dify_request(dify, "slow flow", api_key=FLOW_KEY, extra={"appMode": "workflow"})
    await executor_client.start_run(request)
    await dify.wait_for(lambda s: bool(s.requests()) and s.requests()[0].task_id is not None)
    await asyncio.sleep(0.2)  # let the runtime read workflow_started (which carries the task id)
    await executor_client.cancel(request.run_id)
    events = await collect(executor_client, request.run_id)

    assert events[-1].type is EventType.CANCELLED
    await dify.wait_for(lambda s: bool(s.stops()))
    (entry,) = dify.requests()
    (stop,) = dify.stops()
    assert stop.path == f"/v1/workflows/tasks/{entry.task_id}/stop" and stop.known_task


async def test_completed_run_does_not_call_stop(executor_client: ExecutorClient, dify: DifyServer) -> None:
    events = await run_to_end(executor_client, dify_request(dify, "quick"))
    assert events[-1].type is EventType.DONE
    await executor_client.cancel(events[0].data["run_id"])  # a cancel after the end changes nothing
    assert dify.stops() == []


async def test_bad_app_key_is_a_non_retryable_auth_error(executor_client: ExecutorClient, dify: DifyServer) -> None:
    events = await run_to_end(executor_client, dify_request(dify, "hello", api_key="app-wrong-key-0123456789"))
    error = events[-1]
    assert [e.type for e in events] == [EventType.START, EventType.ERROR]
    assert (error.data["code"], error.data["retryable"]) == ("model_auth", False)
    assert "401" in error.data["message"] and "Access token is invalid" in error.data["message"]
    assert "app-wrong-key-0123456789" not in error.data["message"]


async def test_wrong_route_for_the_app_mode_is_a_config_error(
    executor_client: ExecutorClient, dify: DifyServer
) -> None:
    # A workflow app's key on the chat route, as when appMode is left at its default by mistake.
    events = await run_to_end(executor_client, dify_request(dify, "hello", api_key=FLOW_KEY))
    error = events[-1]
    assert (error.data["code"], error.data["retryable"]) == ("model_config", False)
    assert "400" in error.data["message"] and "app mode" in error.data["message"]


async def test_server_errors_are_retryable(executor_client: ExecutorClient, dify: DifyServer) -> None:
    dify.script([{"match": "boom", "status": 500}, {"match": "busy", "status": 429}])
    for prompt, code in (("boom", "model_unavailable"), ("busy", "model_rate_limited")):
        error = (await run_to_end(executor_client, dify_request(dify, prompt)))[-1]
        assert error.type is EventType.ERROR
        assert (error.data["code"], error.data["retryable"]) == (code, True)


async def test_error_event_in_the_stream(executor_client: ExecutorClient, dify: DifyServer) -> None:
    dify.script(
        [
            {
                "match": "quota",
                "stream_error": True,
                "status": 400,
                "error_code": "provider_quota_exceeded",
                "error_message": "Your quota for the model provider has been exhausted.",
            },
            {"match": "overloaded", "stream_error": True, "status": 503, "error_message": "upstream overloaded"},
        ]
    )
    quota = await run_to_end(executor_client, dify_request(dify, "quota please"))
    assert [e.type for e in quota][:2] == [EventType.START, EventType.TEXT]
    error = quota[-1]
    assert (error.type, error.data["code"], error.data["retryable"]) == (EventType.ERROR, "model_config", False)
    assert "provider_quota_exceeded" in error.data["message"] and "exhausted" in error.data["message"]

    overloaded = (await run_to_end(executor_client, dify_request(dify, "overloaded please")))[-1]
    assert (overloaded.data["code"], overloaded.data["retryable"]) == ("model_unavailable", True)
    assert "upstream overloaded" in overloaded.data["message"]


async def test_unreachable_dify_is_a_retryable_connection_error(executor_client: ExecutorClient) -> None:
    model = ModelConfig(provider="dify", base_url="http://127.0.0.1:9", api_key=CHAT_KEY)
    request = RunRequest(run_id=f"run-{uuid.uuid4().hex[:8]}", runtime="Dify", model=model, prompt="hi")
    events = await run_to_end(executor_client, request)
    assert [e.type for e in events] == [EventType.START, EventType.ERROR]
    assert (events[-1].data["code"], events[-1].data["retryable"]) == ("model_connection", True)


async def test_base_url_with_v1_and_bad_configuration(executor_client: ExecutorClient, dify: DifyServer) -> None:
    with_v1 = await run_to_end(executor_client, dify_request(dify, "versioned", base_url=f"{dify.base_url}/v1/"))
    assert with_v1[-1].type is EventType.DONE and dify.requests()[0].path == "/v1/chat-messages"

    bad_mode = await run_to_end(executor_client, dify_request(dify, "x", extra={"appMode": "completion"}))
    assert [e.type for e in bad_mode] == [EventType.START, EventType.ERROR]
    assert bad_mode[-1].data["code"] == "model_config" and "appMode" in bad_mode[-1].data["message"]
    bad_timeout = await run_to_end(executor_client, dify_request(dify, "x", options={"read_timeout": -1}))
    assert [e.type for e in bad_timeout] == [EventType.START, EventType.ERROR]
    assert bad_timeout[-1].data["code"] == "invalid_request"
    wrong_provider = dify_request(dify, "x")
    wrong_provider.model.provider = "openai"
    events = await run_to_end(executor_client, wrong_provider)
    assert [e.type for e in events] == [EventType.START, EventType.ERROR]
    assert events[-1].data["code"] == "model_config" and "provider 'dify'" in events[-1].data["message"]
    assert len(dify.requests()) == 1


async def test_the_app_key_never_reaches_logs_or_events(dify: DifyServer, tmp_path: Path) -> None:
    """In process, with structlog captured: the Bearer key is sent to Dify and nowhere else."""
    dify.script([{"match": "fail", "status": 401, "error_message": f"key {CHAT_KEY} is revoked"}])
    emitted = []
    saved = structlog.get_config()
    # Whatever level an earlier test configured, capture everything here (info lines included).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with capture_logs() as logs:
        for prompt in ("works", "fail"):
            runtime = DifyRuntime(tmp_path)
            try:
                async for item in runtime.run(dify_request(dify, prompt)):
                    emitted.append(item)
            except Exception as exc:  # the RunFailed the executor would turn into an error event
                emitted.append(str(exc))
    structlog.configure(**saved)
    assert dify.requests()[0].api_key == CHAT_KEY
    assert any("is revoked" in str(item) for item in emitted)
    assert CHAT_KEY not in json.dumps([str(item) for item in emitted])
    assert CHAT_KEY not in json.dumps(logs, default=str)
    assert any(entry.get("event") == "model_request" for entry in logs)


async def test_a_blocking_answer_is_accepted_too(executor_client: ExecutorClient, dify: DifyServer) -> None:
    """Servers that ignore streaming answer with one JSON document (forced here through extra body fields)."""
    blocking = {"body": {"response_mode": "blocking"}}
    chat = await run_to_end(executor_client, dify_request(dify, "all at once", extra=blocking))
    assert [e.type for e in chat] == [EventType.START, EventType.TEXT, EventType.USAGE, EventType.DONE]
    assert chat[-1].data["output"] == "echo: all at once"
    assert chat[-1].data["session_id"] == dify.requests()[0].conversation_id
    assert chat[-1].data["usage"] == {"input_tokens": 3, "output_tokens": 4}

    dify.script([{"outputs": {"answer": "blocked"}}])
    flow = dify_request(dify, "go", api_key=FLOW_KEY, extra={"appMode": "workflow", **blocking})
    events = await run_to_end(executor_client, flow)
    assert events[-1].type is EventType.DONE and events[-1].data["output"] == "blocked"
