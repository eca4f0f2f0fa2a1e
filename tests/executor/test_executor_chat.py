"""The Chat runtime end to end: executor HTTP API -> runtime -> fake provider, over real sockets."""

from __future__ import annotations

import asyncio

from executor.client import ExecutorClient
from tests.executor.conftest import collect, run_request
from tests.support.model_server import ModelServer
from wegent.events import EventType
from wegent.executor_api import HistoryMessage, RunState


def text_of(events: list) -> str:  # type: ignore[type-arg]
    return "".join(e.data["delta"] for e in events if e.type is EventType.TEXT)


async def test_openai_stream_emits_text_usage_and_done(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"match": "capital", "text": "Paris is the capital of France.", "chunk_size": 5}])
    request = run_request(model_server, "What is the capital of France?", system_prompt="Be brief.")

    status = await executor_client.start_run(request)
    events = await collect(executor_client, request.run_id)

    assert status.run_id == request.run_id
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type is EventType.START and events[0].data["run_id"] == request.run_id
    texts = [e for e in events if e.type is EventType.TEXT]
    assert len(texts) == 7  # 31 characters in chunks of 5
    assert text_of(events) == "Paris is the capital of France."
    usage = next(e for e in events if e.type is EventType.USAGE)
    assert usage.data == {"input_tokens": 8, "output_tokens": 6}  # word counts of system+prompt, answer
    done = events[-1]
    assert done.type is EventType.DONE
    assert done.data["output"] == "Paris is the capital of France."
    assert done.data["usage"] == {"input_tokens": 8, "output_tokens": 6}
    assert done.data["session_id"] == request.run_id

    # The server marks the request finished just after its last write: wait for that bookkeeping.
    (seen,) = await model_server.wait_for(lambda log: len(log) == 1 and (log[0].completed or log[0].disconnected))
    assert seen.path == "/v1/chat/completions" and seen.api_key == "sk-test-model-key"
    assert seen.body["stream"] is True and seen.body["stream_options"] == {"include_usage": True}
    assert seen.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert seen.completed and not seen.disconnected
    final = await executor_client.status(request.run_id)
    assert final.state is RunState.DONE and final.last_seq == done.seq


async def test_history_is_sent_between_system_and_prompt(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    history = [HistoryMessage(role="user", content="hi"), HistoryMessage(role="assistant", content="hello")]
    request = run_request(model_server, "again", system_prompt="sys", history=history, session_id="sess-1")
    await executor_client.start_run(request)
    events = await collect(executor_client, request.run_id)

    assert events[-1].data["output"] == "echo: again"
    assert events[-1].data["session_id"] == "sess-1"
    assert [m["role"] for m in model_server.requests()[0].messages] == ["system", "user", "assistant", "user"]


async def test_base_url_without_v1_is_accepted(executor_client: ExecutorClient, model_server: ModelServer) -> None:
    request = run_request(model_server, "no version", base_url=model_server.url)
    await executor_client.start_run(request)
    events = await collect(executor_client, request.run_id)
    assert events[-1].type is EventType.DONE
    assert model_server.requests()[0].path == "/v1/chat/completions"


async def test_replay_after_n_returns_exactly_the_rest(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"text": "one two three four five six", "chunk_size": 3}])
    request = run_request(model_server, "count")
    await executor_client.start_run(request)
    everything = await collect(executor_client, request.run_id)

    for after in (0, 1, 4, len(everything) - 1):
        rest = await collect(executor_client, request.run_id, after=after)
        assert [e.model_dump() for e in rest] == [e.model_dump() for e in everything[after:]]
    assert await collect(executor_client, request.run_id, after=len(everything)) == []
    assert len(model_server.requests()) == 1


async def test_reader_attached_mid_run_gets_the_rest_live(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"text": "a b c d e f g h", "chunk_size": 2, "chunk_delay": 0.05}])
    request = run_request(model_server, "slowly")
    await executor_client.start_run(request)
    first_three = []
    async for event in executor_client.stream_events(request.run_id):
        first_three.append(event)
        if len(first_three) == 3:
            break
    rest = await collect(executor_client, request.run_id, after=3)
    assert [e.seq for e in first_three + rest] == list(range(1, len(rest) + 4))
    assert rest[-1].type is EventType.DONE and rest[-1].data["output"] == "a b c d e f g h"


async def test_posting_the_same_run_id_twice_calls_the_model_once(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"text": "slow answer", "chunk_size": 2, "chunk_delay": 0.05}])
    request = run_request(model_server, "once please")

    first, second = await asyncio.gather(executor_client.start_run(request), executor_client.start_run(request))
    events = await collect(executor_client, request.run_id)
    third = await executor_client.start_run(request.model_copy(update={"prompt": "something else"}))

    assert first.run_id == second.run_id == third.run_id == request.run_id
    assert third.state is RunState.DONE and third.last_seq == len(events)
    assert len(model_server.requests()) == 1
    assert events[-1].data["output"] == "slow answer"


async def test_cancel_stops_the_stream_and_closes_the_model_connection(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"text": "this answer never finishes", "stall": True}])
    request = run_request(model_server, "stall forever")
    await executor_client.start_run(request)

    seen = []
    async for event in executor_client.stream_events(request.run_id):
        seen.append(event)
        if event.type is EventType.TEXT:
            break  # the model is now hanging after its first chunk
    status = await executor_client.cancel(request.run_id, reason="user pressed stop")
    rest = await collect(executor_client, request.run_id, after=seen[-1].seq)

    assert status.state is RunState.CANCELLED
    assert rest[-1].type is EventType.CANCELLED and rest[-1].data == {"reason": "user pressed stop"}
    assert not any(e.type is EventType.DONE for e in rest)
    log = await model_server.wait_for(lambda log: log and log[-1].disconnected, max_wait=5)
    assert not log[-1].completed
    again = await executor_client.cancel(request.run_id)  # idempotent, nothing new appended
    assert again.state is RunState.CANCELLED and again.last_seq == status.last_seq


async def test_cancel_during_slow_stream(executor_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script([{"text": "x" * 200, "chunk_size": 1, "chunk_delay": 0.05}])
    request = run_request(model_server, "slow")
    await executor_client.start_run(request)
    await model_server.wait_for(lambda log: len(log) == 1)
    await asyncio.sleep(0.2)
    await executor_client.cancel(request.run_id)
    events = await collect(executor_client, request.run_id)

    assert events[-1].type is EventType.CANCELLED
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    await model_server.wait_for(lambda log: log[-1].disconnected)


async def test_wrong_model_key_is_a_non_retryable_auth_error(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    request = run_request(model_server, "hello", api_key="sk-wrong-key-123")
    await executor_client.start_run(request)
    events = await collect(executor_client, request.run_id)

    error = events[-1]
    assert error.type is EventType.ERROR
    assert error.data["code"] == "model_auth" and error.data["retryable"] is False
    assert "401" in error.data["message"] and "Incorrect API key provided" in error.data["message"]
    assert "sk-wrong-key-123" not in error.data["message"]
    assert (await executor_client.status(request.run_id)).state is RunState.ERROR


async def test_scripted_401_and_404_are_not_retryable(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script(
        [
            {"match": "auth", "status": 401, "error_message": "key revoked"},
            {"match": "model", "status": 404, "error_message": "The model `nope` does not exist"},
        ]
    )
    for prompt, code, detail in (("auth", "model_auth", "key revoked"), ("model", "model_config", "nope")):
        request = run_request(model_server, prompt)
        await executor_client.start_run(request)
        error = (await collect(executor_client, request.run_id))[-1]
        assert error.type is EventType.ERROR
        assert (error.data["code"], error.data["retryable"]) == (code, False)
        assert detail in error.data["message"]


async def test_server_error_and_rate_limit_are_retryable(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"match": "boom", "status": 500}, {"match": "busy", "status": 429}])
    for prompt, code, status in (("boom", "model_unavailable", "500"), ("busy", "model_rate_limited", "429")):
        request = run_request(model_server, prompt)
        await executor_client.start_run(request)
        error = (await collect(executor_client, request.run_id))[-1]
        assert error.type is EventType.ERROR
        assert (error.data["code"], error.data["retryable"]) == (code, True)
        assert status in error.data["message"]


async def test_rule_times_then_falls_through(executor_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script([{"status": 503, "times": 1}, {"text": "recovered"}])
    outcomes = []
    for _ in range(2):
        request = run_request(model_server, "retry me")
        await executor_client.start_run(request)
        outcomes.append((await collect(executor_client, request.run_id))[-1])
    assert outcomes[0].type is EventType.ERROR and outcomes[0].data["retryable"] is True
    assert outcomes[1].type is EventType.DONE and outcomes[1].data["output"] == "recovered"


async def test_unreachable_model_is_a_retryable_connection_error(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    request = run_request(model_server, "hello", base_url="http://127.0.0.1:9/v1")
    await executor_client.start_run(request)
    error = (await collect(executor_client, request.run_id))[-1]
    assert error.type is EventType.ERROR
    assert (error.data["code"], error.data["retryable"]) == ("model_connection", True)


async def test_read_timeout_option_bounds_a_silent_model(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"stall": True}])
    request = run_request(model_server, "hang", options={"read_timeout": 0.3})
    await executor_client.start_run(request)
    error = (await collect(executor_client, request.run_id))[-1]
    assert error.type is EventType.ERROR
    assert (error.data["code"], error.data["retryable"]) == ("model_timeout", True)
    await model_server.wait_for(lambda log: log[-1].disconnected)


async def test_anthropic_stream(executor_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script([{"text": "Bonjour tout le monde", "chunk_size": 6}])
    history = [HistoryMessage(role="user", content="earlier"), HistoryMessage(role="assistant", content="ok")]
    request = run_request(
        model_server, "say hello in French", provider="anthropic", system_prompt="You translate.", history=history
    )
    await executor_client.start_run(request)
    events = await collect(executor_client, request.run_id)

    assert events[0].type is EventType.START
    assert text_of(events) == "Bonjour tout le monde"
    assert events[-1].type is EventType.DONE
    assert events[-1].data["output"] == "Bonjour tout le monde"
    # input: "You translate." + "earlier" + "ok" + "say hello in French" = 2 + 1 + 1 + 4 words
    assert events[-1].data["usage"] == {"input_tokens": 8, "output_tokens": 4}
    (seen,) = model_server.requests()
    assert seen.path == "/v1/messages" and seen.api_key == "sk-test-model-key"
    assert seen.system == "You translate."
    assert [m["role"] for m in seen.messages] == ["user", "assistant", "user"]
    assert seen.body["stream"] is True and seen.body["max_tokens"] > 0


async def test_anthropic_auth_error(executor_client: ExecutorClient, model_server: ModelServer) -> None:
    request = run_request(model_server, "hi", provider="anthropic", api_key="bad")
    await executor_client.start_run(request)
    error = (await collect(executor_client, request.run_id))[-1]
    assert error.type is EventType.ERROR
    assert (error.data["code"], error.data["retryable"]) == ("model_auth", False)
    assert "invalid x-api-key" in error.data["message"]


async def test_anthropic_cancel_closes_stream(executor_client: ExecutorClient, model_server: ModelServer) -> None:
    model_server.script([{"stall": True}])
    request = run_request(model_server, "hang", provider="anthropic")
    await executor_client.start_run(request)
    await model_server.wait_for(lambda log: len(log) == 1)
    await asyncio.sleep(0.1)
    await executor_client.cancel(request.run_id)
    assert (await collect(executor_client, request.run_id))[-1].type is EventType.CANCELLED
    await model_server.wait_for(lambda log: log[-1].disconnected)


async def test_unknown_runtime_and_provider_end_in_error_events(
    executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    bad_runtime = run_request(model_server, "x", runtime="NoSuchShell")
    bad_provider = run_request(model_server, "x", provider="openai")
    bad_provider.model.provider = "carrier-pigeon"
    for request, code in ((bad_runtime, "runtime_unknown"), (bad_provider, "model_config")):
        await executor_client.start_run(request)
        events = await collect(executor_client, request.run_id)
        assert [e.type for e in events] == [EventType.START, EventType.ERROR]
        assert events[-1].data["code"] == code and events[-1].data["retryable"] is False
    assert model_server.requests() == []
