"""A mixed team end to end in Docker executors: Agno → ClaudeCode (in the task's cloned repo) → Chat."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import yaml

from tests.e2e.conftest import DOCKER_HOST_ALIAS, containers_for_task
from tests.support.anthropic_script_server import AnthropicScriptServer, ToolUse, Turn
from tests.support.git_server import GitHTTPServer, make_repo

GIT_TOKEN = "glpat-mixed-team-token"
ANTHROPIC_KEY = "sk-ant-mixed-team"


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    root = tmp_path_factory.mktemp("mixed-git")
    make_repo(root / "app.git", {"app.py": "def greet():\n    return 'hello'\n"})
    with GitHTTPServer(root, token=GIT_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def claude_model() -> Iterator[AnthropicScriptServer]:
    with AnthropicScriptServer(api_key=ANTHROPIC_KEY) as server:
        yield server


def test_agno_then_claude_code_then_chat_pipeline_with_a_workspace(docker_stack, model, claude_model, git_server):
    p = "m" + uuid.uuid4().hex[:6]
    chat_url = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1"
    docs = [
        {
            "kind": "Model",
            "metadata": {"name": f"{p}-oai"},
            "spec": {"provider": "openai", "baseUrl": chat_url, "model": "scripted", "apiKey": "sk-test"},
        },
        {
            "kind": "Model",
            "metadata": {"name": f"{p}-claude"},
            "spec": {
                "provider": "anthropic",
                "baseUrl": claude_model.url_for(DOCKER_HOST_ALIAS),
                "model": "claude-test",
                "apiKey": ANTHROPIC_KEY,
            },
        },
        {
            "kind": "Workspace",
            "metadata": {"name": f"{p}-repo"},
            "spec": {
                "repository": {
                    "gitUrl": f"{git_server.url_for(DOCKER_HOST_ALIAS)}/app.git",
                    "branch": "main",
                    "token": GIT_TOKEN,
                }
            },
        },
    ]
    for name, shell, mdl in (
        ("planner", "Agno", "oai"),
        ("coder", "ClaudeCode", "claude"),
        ("reviewer", "Chat", "oai"),
    ):
        docs += [
            {"kind": "Shell", "metadata": {"name": f"{p}-{name}"}, "spec": {"shellType": shell}},
            {"kind": "Ghost", "metadata": {"name": f"{p}-{name}"}, "spec": {"systemPrompt": f"You are the {name}."}},
            {
                "kind": "Bot",
                "metadata": {"name": f"{p}-{name}"},
                "spec": {
                    "ghostRef": {"name": f"{p}-{name}"},
                    "shellRef": {"name": f"{p}-{name}"},
                    "modelRef": {"name": f"{p}-{mdl}"},
                },
            },
        ]
    docs.append(
        {
            "kind": "Team",
            "metadata": {"name": f"{p}-team"},
            "spec": {
                "collaborationModel": "pipeline",
                "members": [
                    {"botRef": {"name": f"{p}-planner"}},
                    {"botRef": {"name": f"{p}-coder"}, "contextPassing": "previous"},
                    {"botRef": {"name": f"{p}-reviewer"}, "contextPassing": "previous"},
                ],
            },
        }
    )
    docker_stack.apply(yaml.safe_dump_all(docs))
    model.script(
        [
            {"match": "PLAN:", "text": "Looks good: the greeting now says hello, team."},
            {"match": "*", "text": "PLAN: change greet() to say 'hello, team'."},
        ]
    )
    claude_model.script(
        [
            Turn(tool_uses=[ToolUse(name="Read", input={"file_path": "/workspace/app.py"})]),  # edits need a read
            Turn(
                tool_uses=[
                    ToolUse(
                        name="Edit",
                        input={
                            "file_path": "/workspace/app.py",
                            "old_string": "'hello'",
                            "new_string": "'hello, team'",
                        },
                    )
                ]
            ),
            Turn(text="Done: greet() now says hello, team. PLAN: reviewed."),
        ]
    )
    response = docker_stack.request(
        "POST",
        "/api/v1/tasks",
        json={
            "team": {"name": f"{p}-team"},
            "prompt": "Make the greeting friendlier",
            "workspace": {"name": f"{p}-repo"},
        },
    )
    assert response.status_code == 201, response.text
    task_id = response.json()["id"]
    task = docker_stack.wait_state(task_id, {"COMPLETED", "FAILED"}, timeout=240)
    assert task["state"] == "COMPLETED", task["error"]
    answers = [m for m in task["messages"] if m["role"] == "assistant"]
    assert [m["bot"] for m in answers] == [f"{p}-planner", f"{p}-coder", f"{p}-reviewer"]
    assert answers[0]["content"] == "PLAN: change greet() to say 'hello, team'."
    assert answers[1]["content"] == "Done: greet() now says hello, team. PLAN: reviewed."
    assert answers[2]["content"] == "Looks good: the greeting now says hello, team."
    workspace = answers[1]["meta"]["workspace"]
    assert "+    return 'hello, team'" in workspace["diff"]
    assert all(m["usage"]["outputTokens"] > 0 for m in answers)
    # ClaudeCode received the planner's output; the reviewer received the coder's.
    assert "PLAN: change greet()" in str(claude_model.requests("agent")[0].messages)
    assert model.requests()[-1].messages[-1]["content"] == answers[1]["content"]
    assert GIT_TOKEN not in str(task)
    deadline = time.monotonic() + 30
    while containers_for_task(task_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert containers_for_task(task_id) == []
