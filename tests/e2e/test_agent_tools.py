"""A Ghost's MCP servers reach its agent: a real TaskWorkflow whose Agno bot calls the test calculator server.

The tool call and its result stream as `chat:tool`, are stored with the message, and the server's env (a
secret) reaches the tool without ever being shown by the API.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import DOCKER_HOST_ALIAS
from tests.e2e.teams import team_yaml
from tests.support.chat_client import ChatClient
from tests.support.mcp_servers import mcp_calculator


@pytest.mark.parametrize("backend", ["local", "docker"])
async def test_a_ghost_mcp_tool_is_called_streamed_and_stored(backend, request, model):
    stack = request.getfixturevalue(f"{backend}_stack")
    mcp = mcp_calculator(backend)
    base_url = model.openai_base_url if backend == "local" else f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"
    mcp["env"] = {"MCP_SECRET_SUFFIX": "-from-env"}
    model.script(
        [
            {"match": "whisper", "tool_calls": [{"name": "whisper", "arguments": {"text": "hi"}}], "text": "done"},
            {"match": "add", "tool_calls": [{"name": "add", "arguments": {"a": 20, "b": 22}}], "text": "It is 42."},
        ]
    )
    prefix = "t" + uuid.uuid4().hex[:8]
    member = {"bot": "calc", "system": "You are a calculator. Use your tools.", "ghost": {"mcpServers": {"calc": mcp}}}
    stack.apply(team_yaml(prefix, base_url, [member], collaboration="solo", shell={"shellType": "Agno"}))
    ghost = stack.request("GET", f"/api/v1/namespaces/default/ghosts/{prefix}-calc").json()
    assert ghost["spec"]["mcpServers"]["calc"]["env"] == {"MCP_SECRET_SUFFIX": "***"}

    client = await ChatClient(stack.url, stack.headers["Authorization"].split()[1]).connect()
    try:
        ack = await client.call("chat:send", {"team": f"{prefix}-team", "message": "add 20 and 22"})
        assert ack["ok"], ack
        await client.wait_for(
            lambda ev: any(n in ("chat:done", "chat:error") and d["task_id"] == ack["task_id"] for n, d in ev),
            timeout=180,  # a fresh container, and an MCP server to start inside it
        )
        tools = client.of("chat:tool", task_id=ack["task_id"])
    finally:
        await client.close()
    task = stack.wait_state(ack["task_id"], {"COMPLETED", "FAILED"}, timeout=120)
    assert task["state"] == "COMPLETED", task["error"]
    answer = task["messages"][-1]
    assert answer["content"] == "It is 42."
    assert [t["kind"] for t in tools] == ["tool_call", "tool_result"], tools
    assert tools[0]["data"]["name"] == "add" and tools[1]["data"]["output"] == "42"
    stored = answer["meta"]["tools"]
    assert [(t["kind"], t.get("name"), t.get("output")) for t in stored] == [
        ("tool_call", "add", None),
        ("tool_result", None, "42"),
    ]
    # The model saw the tool's result.
    assert any(m.get("role") == "tool" and m.get("content") == "42" for m in model.requests()[-1].messages)

    # The server's env (a secret in the Ghost) reached the tool process.
    whispered = stack.create_task(f"{prefix}-team", "whisper something")
    done = stack.wait_state(whispered["id"], {"COMPLETED", "FAILED"}, timeout=120)
    assert done["state"] == "COMPLETED", done["error"]
    results = [t for t in done["messages"][-1]["meta"]["tools"] if t["kind"] == "tool_result"]
    assert results and results[0]["output"] == "secret:hi-from-env"
