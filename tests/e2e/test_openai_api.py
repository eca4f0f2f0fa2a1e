"""Issue 17, item 2: the OpenAI-compatible API at `/v1`, driven by the official `openai` SDK (sync and async,
streaming and not, chat completions and responses) against a real stack: API and worker processes, Redis,
MariaDB, Temporal, local executors and the scripted model server. Every call is an ordinary task."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from temporalio.client import Client

from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelServer, ScriptRule
from tests.support.stack import Stack

TASK_HEADER = "X-Wegent-Task-Id"


class Caller:
    """A fresh user with a team of their own and an API key for it."""

    def __init__(self, stack: Stack, model: ModelServer, members: list[dict[str, Any]] | None = None) -> None:
        self.stack = stack
        self.username, password = f"o{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex
        made = stack.request("POST", "/api/v1/admin/users", json={"username": self.username, "password": password})
        assert made.status_code == 201, made.text
        self.headers = stack.login(self.username, password)
        prefix = "oa" + uuid.uuid4().hex[:6]
        collaboration = "pipeline" if members else "solo"
        stack.apply(
            team_yaml(prefix, model.openai_base_url, members or [{"bot": "helper"}], collaboration), self.headers
        )
        self.team = f"default/{prefix}-team"
        created = stack.request("POST", "/api/v1/users/me/keys", headers=self.headers, json={"name": "sdk"})
        assert created.status_code == 201, created.text
        self.key = created.json()["key"]
        self.key_id = created.json()["id"]

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.stack.url}/v1", api_key=self.key, max_retries=0, timeout=120)

    def async_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.stack.url}/v1", api_key=self.key, max_retries=0, timeout=120)

    def task(self, task_id: int) -> dict[str, Any]:
        return self.stack.task(task_id, headers=self.headers)


def _task_id(response_id: str) -> int:
    return int(response_id.replace("chatcmpl-", "").replace("resp_", "").replace("_", "-").split("-")[0])


def _workflow_runs(stack: Stack, task_id: int) -> list[str]:
    async def runs() -> list[str]:
        client = await Client.connect(
            stack.env.get("WEGENT_TEMPORAL_ADDRESS", "127.0.0.1:7233"), namespace=stack.env["WEGENT_TEMPORAL_NAMESPACE"]
        )
        return [w.status.name async for w in client.list_workflows(f"WorkflowId = 'task-{task_id}'")]

    return asyncio.run(runs())


def test_models_are_the_callers_teams_and_the_public_ones(local_stack: Stack, model: ModelServer) -> None:
    public_prefix = "pub" + uuid.uuid4().hex[:6]
    public = local_stack.request(
        "POST",
        "/api/v1/namespaces/default/apply",
        params={"scope": "public"},
        content=team_yaml(public_prefix, model.openai_base_url, [{"bot": "helper"}], "solo").encode(),
    )
    assert public.status_code == 200, public.text
    caller, other = Caller(local_stack, model), Caller(local_stack, model)

    listed = {m.id: m for m in caller.client().models.list()}
    assert listed[caller.team].owned_by == caller.username and listed[caller.team].object == "model"
    assert listed[f"default/{public_prefix}-team"].owned_by == "system"
    assert other.team not in listed  # someone else's team is not offered

    assert caller.client().models.retrieve(caller.team).id == caller.team
    with pytest.raises(openai.NotFoundError) as missing:
        caller.client().models.retrieve("default/no-such-team")
    assert missing.value.code == "model_not_found" and missing.value.param == "model"


def test_chat_completion_is_a_task_and_continues_it_by_header_or_metadata(
    local_stack: Stack, model: ModelServer
) -> None:
    caller = Caller(local_stack, model)
    client = caller.client()

    raw = client.chat.completions.with_raw_response.create(
        model=caller.team, messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    task_id = int(raw.headers["X-Wegent-Task-Id"])
    assert completion.id == f"chatcmpl-{task_id}-1" and raw.headers["X-Wegent-Turn"] == "1"
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop" and completion.model == caller.team
    task = caller.task(task_id)
    assert task["state"] == "COMPLETED" and task["labels"] == {"source": "openai"} and task["prompt"] == "hello there"
    assert completion.usage is not None and completion.usage.prompt_tokens == task["usage"]["inputTokens"] > 0
    assert completion.usage.completion_tokens == task["usage"]["outputTokens"] > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    listed = local_stack.request("GET", "/api/v1/tasks", headers=caller.headers).json()["items"]
    assert [t["id"] for t in listed] == [task_id]
    assert _workflow_runs(local_stack, task_id)  # the workflow task-{id} is in Temporal

    # A follow-up turn of the same task, named by the header; earlier messages are the task's own history.
    second = client.chat.completions.create(
        model=caller.team,
        messages=[
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "echo: hello there"},
            {"role": "user", "content": [{"type": "text", "text": "second "}, {"type": "text", "text": "turn"}]},
        ],
        extra_headers={"X-Wegent-Task-Id": str(task_id)},
    )
    assert second.id == f"chatcmpl-{task_id}-2" and second.choices[0].message.content == "echo: second turn"
    # The model saw the whole conversation: Wegent passed the task's history to the bot.
    assert [m["content"] for m in model.requests()[-1].messages if m["role"] != "system"][-3:] == [
        "hello there",
        "echo: hello there",
        "second turn",
    ]
    third = client.chat.completions.create(
        model=caller.team, messages=[{"role": "user", "content": "third"}], metadata={"wegent_task_id": str(task_id)}
    )
    assert third.id == f"chatcmpl-{task_id}-3" and third.choices[0].message.content == "echo: third"
    task = caller.task(task_id)
    assert task["turn"] == 3 and [m["content"] for m in task["messages"] if m["role"] == "user"] == [
        "hello there",
        "second turn",
        "third",
    ]

    # Several messages for a new task: the last user message is the question, the others its context.
    fresh = client.chat.completions.create(
        model=caller.team,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
        ],
    )
    fresh_task = caller.task(_task_id(fresh.id))
    assert fresh_task["id"] != task_id and fresh_task["title"] == "And 3+3?"
    assert fresh_task["prompt"] == (
        "Earlier messages in this conversation:\n\n[system]\nBe brief.\n\n[user]\nWhat is 2+2?\n\n[assistant]\n4"
        "\n\n[user]\nAnd 3+3?"
    )
    assert fresh.choices[0].message.content == "echo: " + fresh_task["prompt"]


def test_streamed_chat_relays_live_chunks_before_the_task_ends(local_stack: Stack, model: ModelServer) -> None:
    caller = Caller(local_stack, model)
    answer = "The quick brown fox jumps over the lazy dog, twice over."
    model.script([ScriptRule(match="slowly", text=answer, chunk_size=4, chunk_delay=0.15)])

    stream = caller.client().chat.completions.create(
        model=caller.team,
        messages=[{"role": "user", "content": "tell it slowly"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    state_at_first_text = None
    finish = None
    usage = None
    task_id = None
    for chunk in stream:
        task_id = _task_id(chunk.id)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                if state_at_first_text is None:
                    state_at_first_text = caller.task(task_id)["state"]
                pieces.append(choice.delta.content)
            finish = choice.finish_reason or finish
    assert task_id is not None
    assert "".join(pieces) == answer and finish == "stop"
    assert state_at_first_text == "RUNNING"  # text arrived while the model was still answering: live, not stored
    assert len(pieces) >= 5
    task = caller.task(task_id)
    assert task["state"] == "COMPLETED" and task["messages"][-1]["content"] == answer
    assert usage is not None and usage.prompt_tokens == task["usage"]["inputTokens"] > 0
    assert usage.completion_tokens == task["usage"]["outputTokens"]


def test_a_pipeline_answers_with_every_stage_streamed_or_not(local_stack: Stack, model: ModelServer) -> None:
    caller = Caller(local_stack, model, members=[{"bot": "first"}, {"bot": "second"}])
    client = caller.client()
    whole = client.chat.completions.create(model=caller.team, messages=[{"role": "user", "content": "relay"}])
    stages = [m["content"] for m in caller.task(_task_id(whole.id))["messages"] if m["role"] == "assistant"]
    assert len(stages) == 2 and whole.choices[0].message.content == "\n\n".join(stages)
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model=caller.team, messages=[{"role": "user", "content": "relay"}], stream=True
        )
        if c.choices
    )
    assert streamed == whole.choices[0].message.content


def test_async_client_streams_and_runs_calls_side_by_side(local_stack: Stack, model: ModelServer) -> None:
    caller = Caller(local_stack, model)

    async def scenario() -> None:
        client = caller.async_client()
        one, two = await asyncio.gather(
            client.chat.completions.create(model=caller.team, messages=[{"role": "user", "content": "left"}]),
            client.chat.completions.create(model=caller.team, messages=[{"role": "user", "content": "right"}]),
        )
        assert one.choices[0].message.content == "echo: left" and two.choices[0].message.content == "echo: right"
        assert _task_id(one.id) != _task_id(two.id)
        stream = await client.chat.completions.create(
            model=caller.team, messages=[{"role": "user", "content": "async stream"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "echo: async stream"
        await client.close()

    asyncio.run(scenario())
    tasks = local_stack.request("GET", "/api/v1/tasks", headers=caller.headers).json()["items"]
    assert sorted(t["title"] for t in tasks) == ["async stream", "left", "right"]
    assert {t["state"] for t in tasks} == {"COMPLETED"}


def test_responses_continue_the_task_with_previous_response_id(local_stack: Stack, model: ModelServer) -> None:
    caller = Caller(local_stack, model)
    client = caller.client()
    first = client.responses.create(model=caller.team, input="first question", instructions="Answer kindly.")
    task_id = _task_id(first.id)
    assert first.id == f"resp_{task_id}_1" and first.status == "completed"
    task = caller.task(task_id)
    assert first.output_text == "echo: " + task["prompt"] and task["prompt"].endswith("[user]\nfirst question")
    assert first.usage is not None and first.usage.input_tokens == task["usage"]["inputTokens"] > 0
    assert first.usage.output_tokens == task["usage"]["outputTokens"] > 0

    second = client.responses.create(
        model=caller.team,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "second question"}]}],
        previous_response_id=first.id,
    )
    assert second.id == f"resp_{task_id}_2" and second.output_text == "echo: second question"
    assert second.previous_response_id == first.id

    events = list(
        client.responses.create(model=caller.team, input="third, streamed", previous_response_id=second.id, stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "echo: third, streamed" == events[-1].response.output_text
    assert events[-1].response.id == f"resp_{task_id}_3"
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    task = caller.task(task_id)
    assert task["turn"] == 3 and task["state"] == "COMPLETED"
    assert len(local_stack.request("GET", "/api/v1/tasks", headers=caller.headers).json()["items"]) == 1

    async def async_turn() -> None:
        client = caller.async_client()
        fourth = await client.responses.create(model=caller.team, input="fourth", previous_response_id=second.id)
        assert fourth.id == f"resp_{task_id}_4" and fourth.output_text == "echo: fourth"
        await client.close()

    asyncio.run(async_turn())


def test_errors_use_openais_body_and_status(local_stack: Stack, model: ModelServer) -> None:
    caller, other = Caller(local_stack, model), Caller(local_stack, model)
    client = caller.client()
    user_message = [{"role": "user", "content": "hi"}]

    bad_key = openai.OpenAI(base_url=f"{local_stack.url}/v1", api_key="wg-" + "x" * 43, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        bad_key.models.list()
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    raw = httpx.post(f"{local_stack.url}/v1/chat/completions", json={"model": caller.team, "messages": user_message})
    assert raw.status_code == 401
    assert raw.json() == {
        "error": {
            "message": "missing bearer token",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    by_header = httpx.get(f"{local_stack.url}/v1/models", headers={"X-API-Key": caller.key})
    assert by_header.status_code == 200 and caller.team in {m["id"] for m in by_header.json()["data"]}

    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="default/nope", messages=user_message)  # type: ignore[arg-type]
    assert unknown.value.code == "model_not_found" and unknown.value.param == "model"
    with pytest.raises(openai.BadRequestError) as last:
        client.chat.completions.create(model=caller.team, messages=[{"role": "assistant", "content": "x"}])
    assert last.value.param == "messages" and "role 'user'" in last.value.message
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model=caller.team, messages=[])
    assert empty.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as image:
        client.chat.completions.create(
            model=caller.team,
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}],
        )
    assert image.value.param == "messages[0].content[0]"
    with pytest.raises(openai.BadRequestError) as header:
        client.chat.completions.create(
            model=caller.team, messages=user_message, extra_headers={"X-Wegent-Task-Id": "x"}
        )
    assert header.value.param == TASK_HEADER
    foreign = other.client().chat.completions.create(model=other.team, messages=user_message)
    with pytest.raises(openai.NotFoundError) as not_mine:
        client.chat.completions.create(
            model=caller.team, messages=user_message, metadata={"wegent_task_id": str(_task_id(foreign.id))}
        )
    assert not_mine.value.param == "metadata" and not_mine.value.code == "task_not_found"
    with pytest.raises(openai.BadRequestError) as bogus:
        client.responses.create(model=caller.team, input="x", previous_response_id="resp_bogus")
    assert bogus.value.param == "previous_response_id"
    invalid = httpx.post(
        f"{local_stack.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {caller.key}"},
        content=b"{not json",
    )
    assert invalid.status_code == 400 and set(invalid.json()["error"]) == {"message", "type", "param", "code"}

    # A task that fails: a 502 with the reason before streaming starts, an error event after it has.
    model.script([ScriptRule(match="break", status=401, error_message="provider refused the key")])
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model=caller.team, messages=[{"role": "user", "content": "please break"}])
    assert failed.value.status_code == 502 and failed.value.code == "task_failed"
    with pytest.raises(openai.APIError) as failed_stream:
        for _ in client.chat.completions.create(
            model=caller.team, messages=[{"role": "user", "content": "break again"}], stream=True
        ):
            pass
    assert "failed" in failed_stream.value.message
    failed_tasks = local_stack.request("GET", "/api/v1/tasks?state=FAILED", headers=caller.headers).json()["items"]
    assert len(failed_tasks) == 2

    # A revoked key stops working here too (at once: one API process, which revoked it).
    assert client.models.list().data
    local_stack.request("DELETE", f"/api/v1/users/me/keys/{caller.key_id}", headers=caller.headers)
    with pytest.raises(openai.AuthenticationError) as revoked:
        client.models.list()
    assert revoked.value.body == {
        "message": "API key revoked",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_without_live_events_the_answer_comes_from_the_database(stack_factory, model: ModelServer) -> None:  # type: ignore[no-untyped-def]
    """Separate API and worker processes with no shared bus: nothing live reaches the API, which polls the
    database instead; the streamed text is still the whole answer, and the same as the stored one."""
    stack = stack_factory("local", WEGENT_REDIS_URL="")
    caller = Caller(stack, model)
    model.script([ScriptRule(match="poll", text="Answered without a live stream.", chunk_size=3, chunk_delay=0.05)])
    chunks = [
        c.choices[0].delta.content or ""
        for c in caller.client().chat.completions.create(
            model=caller.team, messages=[{"role": "user", "content": "poll me"}], stream=True
        )
        if c.choices
    ]
    assert "".join(chunks) == "Answered without a live stream."
    assert [c for c in chunks if c] == ["Answered without a live stream."]  # one piece: the stored step
    answer = caller.client().responses.create(model=caller.team, input="poll again")
    assert answer.output_text == "Answered without a live stream."


def test_the_readme_example_runs_as_written(local_stack: Stack, model: ModelServer) -> None:
    """The README's `openai` example, with only the address, the key and the team filled in."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme.split("## OpenAI-compatible API", 1)[1], re.S)
    assert block is not None
    caller = Caller(local_stack, model)
    code = block.group(1)
    for written, actual in (
        ("http://127.0.0.1:8000/v1", f"{local_stack.url}/v1"),
        ('"wg-…"', repr(caller.key)),
        ("default/demo-solo", caller.team),
    ):
        assert written in code
        code = code.replace(written, actual)
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "echo: Hello\n"


def test_a_task_cancelled_in_the_app_ends_the_call_with_409(local_stack: Stack, model: ModelServer) -> None:
    caller = Caller(local_stack, model)
    model.script([ScriptRule(match="stall", text="Partial answer, then nothing", chunk_size=8, stall=True)])
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(
            caller.client().chat.completions.create,
            model=caller.team,
            messages=[{"role": "user", "content": "please stall"}],
        )
        deadline = time.monotonic() + 30
        while True:
            tasks = local_stack.request("GET", "/api/v1/tasks", headers=caller.headers).json()["items"]
            if tasks and tasks[0]["state"] == "RUNNING":
                break
            assert time.monotonic() < deadline and not call.done(), tasks
            time.sleep(0.1)
        cancelled = local_stack.request("POST", f"/api/v1/tasks/{tasks[0]['id']}/cancel", headers=caller.headers)
        assert cancelled.status_code == 202
        with pytest.raises(openai.ConflictError) as ended:
            call.result(timeout=60)
    assert ended.value.code == "task_cancelled" and f"task {tasks[0]['id']} was cancelled" in ended.value.message
