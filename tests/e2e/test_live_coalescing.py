"""Coalesced live text (issue 18): fewer, larger `chat:chunk`s that still replay exactly.

A real API, a real worker relaying through Redis, real Socket.IO clients. The model streams faster than the
coalescing window, so chunks cover offset ranges (`from_offset`..`offset`); these tests hold the promises
clients rely on: ranges are contiguous and never overlap, a resume after a reconnect gives the complete text
with nothing twice, a restarted run (new `run_id`) starts its text over, and tool events are never held
back behind text waiting for its window.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.teams import team_yaml
from tests.support.chat_client import ChatClient, assemble
from tests.support.dify_server import DifyServer
from tests.support.stack import Stack

REDIS = {"WEGENT_REDIS_URL": "redis://127.0.0.1:6379/0"}
ANSWER = "".join(f"t{i:03d} " for i in range(150))
# Far longer than any wait below: text held for its window could only arrive through a flush.
HOLD_MS = "60000"


def _token(stack: Stack) -> str:
    return stack.headers["Authorization"].split()[1]


@pytest.fixture(scope="module")
def coalescing_stack(stack_factory_module) -> Stack:  # type: ignore[no-untyped-def]
    return stack_factory_module("local", WEGENT_EXECUTOR_IDLE_SECONDS="5", WEGENT_TASK_IDLE_SECONDS="30", **REDIS)


@pytest.fixture(scope="module")
def holding_stack(stack_factory_module) -> Stack:  # type: ignore[no-untyped-def]
    return stack_factory_module(
        "local",
        WEGENT_EXECUTOR_IDLE_SECONDS="5",
        WEGENT_TASK_IDLE_SECONDS="30",
        WEGENT_STREAM_WINDOW_MS=HOLD_MS,
        **REDIS,
    )


@pytest.fixture(scope="module")
def dify() -> Iterator[DifyServer]:
    with DifyServer({"app-coalesce-agent-key": "agent-chat"}) as server:
        yield server


def _team(stack: Stack, model) -> str:  # type: ignore[no-untyped-def]
    prefix = "z" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "chat"}], collaboration="solo"))
    return f"{prefix}-team"


def _dify_team(stack: Stack, dify: DifyServer) -> str:
    prefix = "y" + uuid.uuid4().hex[:8]
    stack.apply(
        team_yaml(
            prefix,
            dify.url_for("127.0.0.1"),
            [{"bot": "bot", "system": "agent"}],
            collaboration="solo",
            api_key="app-coalesce-agent-key",
            shell={"shellType": "Dify"},
            model={"provider": "dify", "model": ""},
        )
    )
    return f"{prefix}-team"


def _done(task_id: int):  # type: ignore[no-untyped-def]
    return lambda ev: any(n == "chat:done" and d["task_id"] == task_id for n, d in ev)


def _assert_contiguous(events: list[dict[str, Any]]) -> None:
    """Each event starts right after the previous one ends: no gap, no overlap (text and tools share offsets)."""
    for before, after in zip(events, events[1:], strict=False):
        assert after.get("from_offset", after["offset"]) == before["offset"] + 1, (before, after)


async def test_a_fast_stream_arrives_in_contiguous_ranges_that_replay_identically(coalescing_stack, model):
    model.script([{"match": "*", "text": ANSWER, "chunk_size": 5, "chunk_delay": 0.004}])
    team = _team(coalescing_stack, model)
    client = await ChatClient(coalescing_stack.url, _token(coalescing_stack)).connect()
    try:
        ack = await client.call("chat:send", {"team": team, "message": "stream fast"})
        assert ack["ok"], ack
        await client.wait_for(_done(ack["task_id"]))
        chunks = client.of("chat:chunk", task_id=ack["task_id"])
        assert "".join(c["content"] for c in chunks) == ANSWER
        _assert_contiguous(chunks)
        # The first delta is sent on its own, at once; later ones were joined (fewer events than deltas).
        assert chunks[0]["from_offset"] == chunks[0]["offset"]
        assert len(chunks) < len(ANSWER) // 5 and any(c["from_offset"] < c["offset"] for c in chunks)
        task = await asyncio.to_thread(coalescing_stack.wait_state, ack["task_id"], {"COMPLETED"})
        assert task["messages"][-1]["content"] == ANSWER
    finally:
        await client.close()

    # A viewer who comes later and resumes from the start gets the very same chunks from the live log.
    late = await ChatClient(coalescing_stack.url, _token(coalescing_stack)).connect()
    try:
        message_id = chunks[0]["message_id"]
        resumed = await late.call("chat:resume", {"task_id": ack["task_id"], "message_id": message_id, "offset": 0})
        assert resumed["ok"] and resumed["replayed"] == len(chunks)
        await late.wait_for(_done(ack["task_id"]))
        replayed = late.of("chat:chunk", message_id=message_id)
        key = [(c["from_offset"], c["offset"], c["content"]) for c in chunks]
        assert [(c["from_offset"], c["offset"], c["content"]) for c in replayed] == key
    finally:
        await late.close()


async def test_resume_after_a_reconnect_mid_stream_completes_the_text_with_nothing_twice(coalescing_stack, model):
    model.script([{"match": "*", "text": ANSWER, "chunk_size": 4, "chunk_delay": 0.01}])
    team = _team(coalescing_stack, model)
    first = await ChatClient(coalescing_stack.url, _token(coalescing_stack)).connect()
    ack = await first.call("chat:send", {"team": team, "message": "stream, I will drop"})
    await first.wait_for(lambda ev: len([1 for n, _ in ev if n == "chat:chunk"]) >= 4)
    await first.close()  # the connection drops mid-stream; the model keeps going
    seen = first.of("chat:chunk", task_id=ack["task_id"])
    message_id, last = seen[-1]["message_id"], seen[-1]["offset"]

    second = await ChatClient(coalescing_stack.url, _token(coalescing_stack)).connect()
    try:
        resumed = await second.call(
            "chat:resume", {"task_id": ack["task_id"], "message_id": message_id, "offset": last}
        )
        assert resumed["ok"], resumed
        await second.wait_for(_done(ack["task_id"]))
        after = second.of("chat:chunk", message_id=message_id)
        # The replay and the live events may interleave: a careful client keeps each offset once.
        assert assemble(seen + after) == ANSWER
        assert all(c["from_offset"] > last for c in after)  # nothing the first connection had is sent again
        shown: dict[int, dict[str, Any]] = {c["offset"]: c for c in seen + after}
        _assert_contiguous([shown[k] for k in sorted(shown)])
    finally:
        await second.close()


async def test_a_restarted_run_gets_a_new_run_id_and_its_text_starts_over(coalescing_stack, dify):
    answer = "".join(f"r{i:02d} " for i in range(40))
    dify.script(
        [
            # The first attempt streams a little, then the app fails with a retryable error.
            {"match": "*", "answer": "doomed text", "stream_error": True, "status": 503, "times": 1},
            {"match": "*", "answer": answer, "chunk_size": 4, "chunk_delay": 0.005},
        ]
    )
    team = _dify_team(coalescing_stack, dify)
    client = await ChatClient(coalescing_stack.url, _token(coalescing_stack)).connect()
    try:
        ack = await client.call("chat:send", {"team": team, "message": "try twice"})
        assert ack["ok"], ack
        await client.wait_for(_done(ack["task_id"]), timeout=120)
        starts = client.of("chat:start", task_id=ack["task_id"])
        assert len({s["run_id"] for s in starts}) == 2, starts
        chunks = client.of("chat:chunk", task_id=ack["task_id"])
        final_run = starts[-1]["run_id"]
        assert chunks[0]["run_id"] != final_run  # the doomed run's text came first ...
        assert assemble(chunks) == answer  # ... and a client that resets on the new run_id shows only the new text
        _assert_contiguous([c for c in chunks if c["run_id"] == final_run])
        # A viewer resuming the message now gets the final run's text only.
        late = await ChatClient(coalescing_stack.url, _token(coalescing_stack)).connect()
        try:
            message_id = chunks[-1]["message_id"]
            await late.call("chat:resume", {"task_id": ack["task_id"], "message_id": message_id, "offset": 0})
            await late.wait_for(_done(ack["task_id"]))
            assert "".join(c["content"] for c in late.of("chat:chunk", message_id=message_id)) == answer
        finally:
            await late.close()
    finally:
        await client.close()


async def test_tool_events_are_never_held_behind_a_coalescing_window(holding_stack, dify):
    """With a window of a minute, text only moves when something flushes it: the tool call must, at once."""
    dify.script(
        [
            {
                "match": "*",
                "lead": "Let me work that out. ",
                "answer": "It is 42, as computed.",
                "chunk_size": 3,
                "chunk_delay": 0.01,
                "thoughts": [{"tool": "calculator", "tool_input": {"expression": "6*7"}, "observation": "42"}],
            }
        ]
    )
    team = _dify_team(holding_stack, dify)
    client = await ChatClient(holding_stack.url, _token(holding_stack)).connect()
    try:
        ack = await client.call("chat:send", {"team": team, "message": "what is six times seven"})
        assert ack["ok"], ack
        # Far within the minute-long window: the first delta, the flushed lead, the tools and the end all arrive.
        await client.wait_for(_done(ack["task_id"]), timeout=30)
        ordered = [
            (n, d) for n, d in client.events if n in ("chat:chunk", "chat:tool") and d["task_id"] == ack["task_id"]
        ]
        names = [n for n, _ in ordered]
        first_tool = names.index("chat:tool")
        lead = "".join(d["content"] for n, d in ordered[:first_tool] if n == "chat:chunk")
        assert lead == "Let me work that out. "  # all of it, flushed by the tool call, before the tool call
        assert ordered[0][1]["from_offset"] == ordered[0][1]["offset"]  # the first delta went out alone, at once
        tools = [d for n, d in ordered if n == "chat:tool"]
        assert any("calculator" in json.dumps(t) for t in tools) and any("42" in json.dumps(t) for t in tools)
        _assert_contiguous([d for _, d in ordered])
        text = "".join(d["content"] for n, d in ordered if n == "chat:chunk")
        assert text == "Let me work that out. It is 42, as computed."
    finally:
        await client.close()
