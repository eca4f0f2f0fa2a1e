"""Every control event and server event of the README's Socket.IO protocol, on a real socket.

`chat:cancel`, `history:sync`, `task:leave`, approval through `chat:send` with an action; the server events
`chat:tool`, `chat:message`, `chat:error` and `chat:cancelled`; and rooms of two deployments sharing one Redis
under different `WEGENT_REDIS_PREFIX`es.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.teams import team_yaml
from tests.support.chat_client import ChatClient
from tests.support.dify_server import DifyServer
from tests.support.stack import Stack


def _token(stack: Stack) -> str:
    return stack.headers["Authorization"].split()[1]


@pytest.fixture(scope="module")
def stack(stack_factory_module) -> Stack:  # type: ignore[no-untyped-def]
    return stack_factory_module("local", WEGENT_EXECUTOR_IDLE_SECONDS="5", WEGENT_TASK_IDLE_SECONDS="60")


def _team(stack: Stack, model, members=None, **kwargs) -> str:  # type: ignore[no-untyped-def]
    prefix = "p" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, members or [{"bot": "chat"}], **kwargs))
    return prefix


async def _client(stack: Stack) -> ChatClient:
    return await ChatClient(stack.url, _token(stack)).connect()


async def test_chat_cancel_stops_the_stream_keeps_the_partial_text_and_emits_chat_cancelled(stack, model):
    model.script([{"match": "*", "text": "First words, then silence", "chunk_size": 6, "stall": True}])
    prefix = _team(stack, model, collaboration="solo")
    client = await _client(stack)
    try:
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "go"})
        assert ack["ok"], ack
        task_id = ack["task_id"]
        await client.wait_for(lambda ev: any(n == "chat:chunk" for n, _ in ev))
        cancelled = await client.call("chat:cancel", {"task_id": task_id})
        assert cancelled["ok"], cancelled
        await client.wait_for(lambda ev: any(n == "chat:cancelled" and d["task_id"] == task_id for n, d in ev))
        await client.wait_for(lambda ev: any(n == "task:status" and d["state"] == "CANCELLED" for n, d in ev))
        task = await asyncio.to_thread(stack.wait_state, task_id, {"CANCELLED"})
        assert task["messages"][-1]["content"] == "First "  # what streamed before the stop is kept
        synced = await client.call("history:sync", {"task_id": task_id})
        assert synced["ok"] and synced["task"]["state"] == "CANCELLED"
        assert [m["content"] for m in synced["task"]["messages"]] == ["go", "First "]
    finally:
        await client.close()


async def test_task_leave_stops_a_task_stream_but_not_the_user_events(stack, model):
    prefix = _team(stack, model, collaboration="solo")
    watcher = await _client(stack)
    try:
        first = stack.create_task(f"{prefix}-team", "turn one")
        await asyncio.to_thread(stack.wait_state, first["id"], {"COMPLETED"})
        joined = await watcher.call("task:join", {"task_id": first["id"]})
        assert joined["ok"] and joined["streaming"] is True
        left = await watcher.call("task:leave", {"task_id": first["id"]})
        assert left["ok"]
        follow = stack.request("POST", f"/api/v1/tasks/{first['id']}/messages", json={"message": "turn two"})
        assert follow.status_code in (200, 201, 202), follow.text
        await asyncio.to_thread(stack.wait_state, first["id"], {"COMPLETED"})
        await watcher.wait_for(
            lambda ev: sum(1 for n, d in ev if n == "task:status" and d["state"] == "COMPLETED") >= 2
        )
        assert not watcher.of("chat:chunk", task_id=first["id"])  # left the room: no text of turn two
        assert not watcher.of("chat:start", task_id=first["id"])
    finally:
        await watcher.close()


async def test_approval_and_rejection_through_chat_send_actions(stack, model):
    model.script([{"match": "hand-off please", "text": "stage one output"}])
    prefix = _team(
        stack,
        model,
        [{"bot": "draft", "requireConfirmation": True}, {"bot": "final", "contextPassing": "previous"}],
    )
    client = await _client(stack)
    try:
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "hand-off please"})
        await asyncio.to_thread(stack.wait_state, ack["task_id"], {"PENDING_CONFIRMATION"})
        bad = await client.call("chat:send", {"task_id": ack["task_id"], "action": "maybe"})
        assert not bad["ok"] and bad["field"] == "action" and bad["status"] == 422
        approved = await client.call(
            "chat:send", {"task_id": ack["task_id"], "action": "approve", "message": "EDITED HAND-OFF"}
        )
        assert approved["ok"], approved
        done = await asyncio.to_thread(stack.wait_state, ack["task_id"], {"COMPLETED", "FAILED"})
        assert done["messages"][-1]["content"] == "echo: EDITED HAND-OFF"
        assert model.requests()[-1].messages[-1]["content"] == "EDITED HAND-OFF"

        again = await client.call("chat:send", {"team": f"{prefix}-team", "message": "hand-off please"})
        await asyncio.to_thread(stack.wait_state, again["task_id"], {"PENDING_CONFIRMATION"})
        rejected = await client.call(
            "chat:send", {"task_id": again["task_id"], "action": "reject", "message": "not good enough"}
        )
        assert rejected["ok"], rejected
        ended = await asyncio.to_thread(stack.wait_state, again["task_id"], {"CANCELLED", "COMPLETED", "FAILED"})
        assert ended["state"] == "CANCELLED" and "not good enough" in ended["error"]
    finally:
        await client.close()


async def test_route_decision_arrives_as_chat_message(stack, model):
    prefix = "r" + uuid.uuid4().hex[:8]
    decision = json.dumps({"member": f"{prefix}-poet", "reason": "rhymes"})
    model.script([{"match": "Decide which ONE", "text": decision}])
    stack.apply(
        team_yaml(
            prefix,
            model.openai_base_url,
            [{"bot": "lead", "role": "leader"}, {"bot": "math"}, {"bot": "poet"}],
            collaboration="route",
        )
    )
    client = await _client(stack)
    try:
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "a rhyme"})
        await client.wait_for(lambda ev: any(n == "chat:message" for n, _ in ev))
        note = client.of("chat:message", task_id=ack["task_id"])[0]
        assert "rhymes" in json.dumps(note)
        assert f"{prefix}-poet" in json.dumps(note)
    finally:
        await client.close()


async def test_a_failing_model_emits_chat_error(stack, model):
    model.script([{"match": "*", "status": 401, "error_message": "invalid api key"}])
    prefix = _team(stack, model, collaboration="solo")
    client = await _client(stack)
    try:
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "fail please"})
        await client.wait_for(lambda ev: any(n == "chat:error" for n, _ in ev))
        error = client.of("chat:error", task_id=ack["task_id"])[0]
        assert "401" in error["error"] or "invalid api key" in error["error"]
        await client.wait_for(lambda ev: any(n == "task:status" and d["state"] == "FAILED" for n, d in ev))
    finally:
        await client.close()


@pytest.fixture(scope="module")
def dify() -> Iterator[DifyServer]:
    with DifyServer({"app-protocol-agent-key": "agent-chat"}) as server:
        yield server


async def test_agent_tool_use_streams_as_chat_tool(stack, dify):
    dify.script(
        [
            {
                "match": "*",
                "answer": "It is 42.",
                "thoughts": [{"tool": "calculator", "tool_input": {"expression": "6*7"}, "observation": "42"}],
            }
        ]
    )
    prefix = "d" + uuid.uuid4().hex[:8]
    stack.apply(
        team_yaml(
            prefix,
            dify.url_for("127.0.0.1"),
            [{"bot": "bot", "system": "agent"}],
            collaboration="solo",
            api_key="app-protocol-agent-key",
            shell={"shellType": "Dify"},
            model={"provider": "dify", "model": ""},
        )
    )
    client = await _client(stack)
    try:
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "what is six times seven"})
        await client.wait_for(lambda ev: any(n == "chat:done" and d["task_id"] == ack["task_id"] for n, d in ev))
        tools = client.of("chat:tool", task_id=ack["task_id"])
        assert tools, client.events
        assert any("calculator" in json.dumps(t) for t in tools)
        assert any("42" in json.dumps(t) for t in tools)  # the result, too
    finally:
        await client.close()


async def test_two_deployments_on_one_redis_do_not_see_each_others_rooms(stack_factory, model):
    """Same Redis, same database, different prefixes: one deployment's clients never get the other's events."""
    first = stack_factory("local", WEGENT_REDIS_PREFIX=f"iso-a-{uuid.uuid4().hex[:6]}")
    second = stack_factory("local", WEGENT_REDIS_PREFIX=f"iso-b-{uuid.uuid4().hex[:6]}")
    prefix = _team(first, model, collaboration="solo")
    on_second = await _client(second)  # the same admin user, connected to the other deployment
    on_first = await _client(first)
    try:
        ack = await on_first.call("chat:send", {"team": f"{prefix}-team", "message": "only for the first"})
        await on_first.wait_for(lambda ev: any(n == "chat:done" for n, _ in ev))
        await asyncio.to_thread(first.wait_state, ack["task_id"], {"COMPLETED"})
        await asyncio.sleep(1.0)  # anything relayed across prefixes would have arrived by now
        assert on_first.of("task:status", task_id=ack["task_id"])
        assert not [e for e in on_second.events if e[1].get("task_id") == ack["task_id"]], on_second.events
    finally:
        await on_first.close()
        await on_second.close()
