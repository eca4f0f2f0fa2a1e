"""The Agno and Dify runtimes inside the real executor container, against fakes running on the host."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from activities.executors.base import ExecutorSpec
from activities.executors.docker_backend import DockerBackend
from executor.client import ExecutorClient
from tests.backends.conftest import TOKEN
from tests.support.dify_server import DifyServer
from tests.support.model_server import ModelServer
from wegent.events import EventType, RunEvent
from wegent.executor_api import ModelConfig, RunRequest, RunState

pytestmark = pytest.mark.docker

SpecFactory = Callable[..., ExecutorSpec]
HOST = "host.docker.internal"
MCP_CALCULATOR = Path(__file__).resolve().parents[1] / "support" / "mcp_calculator.py"


async def run_to_end(client: ExecutorClient, request: RunRequest) -> list[RunEvent]:
    await client.start_run(request)
    return [event async for event in client.stream_events(request.run_id)]


def text_of(events: list[RunEvent]) -> str:
    return "".join(e.data["delta"] for e in events if e.type is EventType.TEXT)


async def test_agno_run_with_mcp_tool_and_session_in_the_container(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    model_key = "sk-agno-in-docker"
    with ModelServer(api_key=model_key) as model_server:
        model_server.script(
            [{"match": "add", "tool_calls": [{"name": "add", "arguments": {"a": 20, "b": 22}}], "text": "42!"}]
        )
        spec = make_spec()
        handle = await docker_backend.start(spec)
        await docker_backend.wait_healthy(handle, 60)
        model = ModelConfig(
            provider="openai", base_url=f"{model_server.url_for(HOST)}/v1", model="fake-model", api_key=model_key
        )
        # The MCP server is the test fixture's source, run by the image's interpreter (tests/ is not installed).
        mcp = {"calc": {"command": "/opt/venv/bin/python", "args": ["-c", MCP_CALCULATOR.read_text()]}}
        first = RunRequest(
            run_id=f"run-{uuid.uuid4().hex[:8]}",
            runtime="Agno",
            model=model,
            system_prompt="You are a calculator.",
            prompt="add 20 and 22",
            mcp_servers=mcp,
        )
        async with ExecutorClient(f"http://{handle.host}:{handle.port}", TOKEN) as client:
            events = await run_to_end(client, first)
            assert events[-1].type is EventType.DONE, events[-1]
            session_id = events[-1].data["session_id"]
            call = next(e for e in events if e.type is EventType.TOOL_CALL)
            result = next(e for e in events if e.type is EventType.TOOL_RESULT)
            assert (call.data["name"], call.data["arguments"]) == ("add", {"a": 20, "b": 22})
            assert result.data["output"] == "42" and result.data["id"] == call.data["id"]
            assert text_of(events) == "42!" and events[-1].data["usage"]["output_tokens"] > 0

            follow_up = RunRequest(
                run_id=f"run-{uuid.uuid4().hex[:8]}",
                runtime="Agno",
                model=model,
                system_prompt="You are a calculator.",
                prompt="and what was that?",
                session_id=session_id,
            )
            events = await run_to_end(client, follow_up)
            assert events[-1].type is EventType.DONE and events[-1].data["session_id"] == session_id

        requests = model_server.requests()
        assert len(requests) == 3
        assert requests[1].messages[-1] == {"role": "tool", "content": "42", "tool_call_id": call.data["id"]}
        remembered = [m.get("content") for m in requests[2].messages]
        assert remembered[:2] == ["You are a calculator.", "add 20 and 22"] and remembered[-1] == "and what was that?"
        assert "42!" in remembered
        container = docker_client.containers.get(handle.executor_id)
        code, _ = container.exec_run(["test", "-s", "/workspace/.wegent/agno-sessions.db"])
        assert code == 0, "Agno's session store lives in the executor's workdir"


async def test_dify_run_follow_up_and_cancel_in_the_container(
    docker_backend: DockerBackend, make_spec: SpecFactory
) -> None:
    app_key = "app-dify-in-docker-0123"
    with DifyServer({app_key: "chat"}) as dify:
        spec = make_spec()
        handle = await docker_backend.start(spec)
        await docker_backend.wait_healthy(handle, 60)
        model = ModelConfig(provider="dify", base_url=dify.url_for(HOST), api_key=app_key)

        def request(prompt: str, session_id: str | None = None) -> RunRequest:
            return RunRequest(
                run_id=f"run-{uuid.uuid4().hex[:8]}", runtime="Dify", model=model, prompt=prompt, session_id=session_id
            )

        async with ExecutorClient(f"http://{handle.host}:{handle.port}", TOKEN) as client:
            first = await run_to_end(client, request("hello from the sandbox"))
            assert first[-1].type is EventType.DONE, first[-1]
            conversation = first[-1].data["session_id"]
            assert conversation and first[0].data["session_id"] == conversation
            assert text_of(first) == "echo: hello from the sandbox"
            assert first[-1].data["usage"] == {"input_tokens": 4, "output_tokens": 5}

            second = await run_to_end(client, request("again", conversation))
            assert second[-1].data["output"] == "echo: again (previously: hello from the sandbox)"

            dify.script([{"stall": True}])
            hanging = request("never ends", conversation)
            await client.start_run(hanging)
            async for event in client.stream_events(hanging.run_id):
                if event.type is EventType.TEXT:
                    break
            status = await client.cancel(hanging.run_id)
            assert status.state is RunState.CANCELLED

        await dify.wait_for(lambda s: bool(s.stops()) and s.requests()[-1].ended is not None)
        log = dify.requests()
        assert [r.conversation_id for r in log] == [conversation] * 3
        assert log[-1].disconnected
        (stop,) = dify.stops()
        assert stop.task_id == log[-1].task_id and stop.known_task and stop.user == "wegent"
