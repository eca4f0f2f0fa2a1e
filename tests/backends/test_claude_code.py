"""The ClaudeCode runtime end to end: the real ``claude`` CLI edits a cloned repository.

Inside the real executor container (uid 10001, all capabilities dropped) and, more cheaply, in a local
executor process: the workspace is cloned from a token-protected bare repository on this machine, the CLI
follows scripted Anthropic Messages tool-use turns from tests/support/anthropic_script_server.py, the diff
is read back, a follow-up resumes the CLI's session, and a cancel kills the CLI with the tools it started.
Nothing is skipped: without the CLI or the image the tests fail with the command that provides them.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from activities.executors.base import ExecutorSpec
from activities.executors.docker_backend import DockerBackend
from activities.executors.local_backend import LocalBackend
from executor.client import ExecutorClient
from executor.runtimes.base import RunFailed
from executor.runtimes.claude_cli import find_claude
from tests.backends.conftest import TOKEN
from tests.support.anthropic_script_server import AnthropicScriptServer, ToolUse, Turn
from tests.support.git_server import GitHTTPServer, make_repo
from wegent.events import EventType, RunEvent
from wegent.executor_api import ModelConfig, RunRequest, WorkspaceStatus

SpecFactory = Callable[..., ExecutorSpec]
MODEL_KEY = "sk-ant-claude-code-test-key"
MODEL = "claude-test-model"
GIT_TOKEN = "glpat-claudeCodeWorkspaceToken"
GHOST_PROMPT = "You are the Wegent test ghost. Keep answers short."
APP = "def greet():\n    return 'hello'\n"


@dataclass
class Sandbox:
    client: ExecutorClient
    workdir: str  # the working directory as the executor sees it
    processes: Callable[[], list[str]]  # command lines of the processes where the CLI runs
    shell: Callable[[str], tuple[int, str]] | None = None  # a command inside the sandbox, as its user


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    root = tmp_path_factory.mktemp("cc-git")
    make_repo(root / "app.git", {"app.py": APP, "README.md": "# App\n"})
    with GitHTTPServer(root, token=GIT_TOKEN) as server:  # 0.0.0.0: containers reach it too
        yield server


@pytest.fixture(scope="module")
def model_server() -> Iterator[AnthropicScriptServer]:
    with AnthropicScriptServer(api_key=MODEL_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_script(model_server: AnthropicScriptServer) -> None:
    model_server.reset()


def request(base_url: str, prompt: str, **fields: object) -> RunRequest:
    return RunRequest(
        run_id=f"cc-{uuid.uuid4().hex[:10]}",
        runtime="ClaudeCode",
        model=ModelConfig(provider="anthropic", base_url=base_url, model=MODEL, api_key=MODEL_KEY),
        system_prompt=GHOST_PROMPT,
        prompt=prompt,
        **fields,  # type: ignore[arg-type]
    )


async def run_to_end(client: ExecutorClient, run: RunRequest, max_wait: float = 120.0) -> list[RunEvent]:
    await client.start_run(run)

    async def collect() -> list[RunEvent]:
        return [event async for event in client.stream_events(run.run_id)]

    return await asyncio.wait_for(collect(), max_wait)


def of(events: list[RunEvent], kind: EventType) -> list[RunEvent]:
    return [e for e in events if e.type is kind]


def system_text(body: dict[str, object] | None) -> str:
    system = (body or {}).get("system")
    if isinstance(system, list):
        return "\n".join(str(block.get("text", "")) for block in system if isinstance(block, dict))
    return str(system or "")


def user_texts(messages: list[dict[str, object]]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(parts)


async def edit_resume_and_diff(sandbox: Sandbox, model_server: AnthropicScriptServer, base_url: str) -> None:
    client, work = sandbox.client, sandbox.workdir
    model_server.script(
        [
            Turn(
                text="Let me look at the code.", tool_uses=[ToolUse(name="Read", input={"file_path": f"{work}/app.py"})]
            ),
            Turn(
                tool_uses=[
                    ToolUse(
                        name="Edit",
                        input={"file_path": f"{work}/app.py", "old_string": "'hello'", "new_string": "'hello, claude'"},
                    )
                ]
            ),
            Turn(
                tool_uses=[ToolUse(name="Write", input={"file_path": f"{work}/NOTES.md", "content": "changed greet\n"})]
            ),
            Turn(text="I changed the greeting in app.py and wrote NOTES.md.", chunk_size=7),
        ]
    )
    first = request(base_url, "Make greet() say hello to claude.")
    events = await run_to_end(client, first)

    assert events[0].type is EventType.START and events[-1].type is EventType.DONE, events[-1]
    session_id = events[0].data["session_id"]
    assert uuid.UUID(session_id)  # a fresh session, named from the start
    done = events[-1].data
    assert done["session_id"] == session_id
    assert done["output"] == "I changed the greeting in app.py and wrote NOTES.md."
    streamed = "".join(e.data["delta"] for e in of(events, EventType.TEXT))
    assert streamed == "Let me look at the code.I changed the greeting in app.py and wrote NOTES.md."
    assert len(of(events, EventType.TEXT)) > 2  # really streamed in pieces
    calls = of(events, EventType.TOOL_CALL)
    assert [c.data["name"] for c in calls] == ["Read", "Edit", "Write"]
    assert calls[1].data["arguments"]["new_string"] == "'hello, claude'"
    results = of(events, EventType.TOOL_RESULT)
    assert [r.data["id"] for r in results] == [c.data["id"] for c in calls]
    assert not any(r.data["is_error"] for r in results), results
    assert "return 'hello'" in results[0].data["output"]  # the Read result is the file
    usage = of(events, EventType.USAGE)[-1].data
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0 and done["usage"] == usage
    assert [e.seq for e in events] == list(range(1, len(events) + 1))

    agent_calls = model_server.requests("agent")
    assert len(agent_calls) == 4 and model_server.remaining == 0
    assert all(r.api_key == MODEL_KEY and r.status == 200 for r in agent_calls)
    assert all(r.body and r.body["model"] == MODEL and r.body.get("stream") for r in agent_calls)
    assert GHOST_PROMPT in system_text(agent_calls[0].body)  # the Ghost prompt is appended
    assert "Make greet() say hello to claude." in user_texts(agent_calls[0].messages)
    # The CLI reported each tool's outcome back to the model.
    assert agent_calls[2].tool_results()[0]["tool_use_id"] == calls[1].data["id"]

    status: WorkspaceStatus = await client.workspace_status()
    assert set(status.status.splitlines()) == {" M app.py", "?? NOTES.md"}
    assert "-    return 'hello'" in status.diff and "+    return 'hello, claude'" in status.diff
    assert "+changed greet" in status.diff
    assert "app.py" in status.diff_stat and "NOTES.md" in status.diff_stat

    # A follow-up resumes the same CLI session: the model sees the earlier turn without us resending it.
    model_server.reset()
    model_server.script([Turn(text="Earlier I edited app.py.")])
    follow_up = request(base_url, "What did you change?", session_id=session_id)
    events = await run_to_end(client, follow_up)
    assert events[-1].type is EventType.DONE, events[-1]
    assert events[0].data["session_id"] == session_id
    assert events[-1].data["session_id"] == session_id
    assert events[-1].data["output"] == "Earlier I edited app.py."
    (resumed,) = model_server.requests("agent")
    texts = user_texts(resumed.messages)
    assert "Make greet() say hello to claude." in texts and "What did you change?" in texts
    assert any(m.get("role") == "assistant" for m in resumed.messages)
    assert (await client.status(follow_up.run_id)).session_id == session_id


async def cancel_kills_the_cli(sandbox: Sandbox, model_server: AnthropicScriptServer, base_url: str) -> None:
    marker = f"sleep {4000 + int(time.time()) % 1000}"  # unique enough to find this run's tool process
    model_server.script([Turn(tool_uses=[ToolUse(name="Bash", input={"command": marker, "description": "wait"})])])
    run = request(base_url, "Wait for a long time.")
    client = sandbox.client
    await client.start_run(run)
    seen: list[RunEvent] = []

    async def until_tool_runs() -> None:
        async for event in client.stream_events(run.run_id):
            seen.append(event)
            if event.type is EventType.TOOL_CALL:
                return

    await asyncio.wait_for(until_tool_runs(), 90)
    session_id = seen[0].data["session_id"]
    deadline = time.monotonic() + 30
    while not any(marker in p for p in sandbox.processes()):
        assert time.monotonic() < deadline, f"the Bash tool never started {marker!r}: {sandbox.processes()}"
        await asyncio.sleep(0.2)
    assert any(session_id in p for p in sandbox.processes())  # the CLI itself

    status = await client.cancel(run.run_id, reason="user pressed stop")
    assert status.state.value == "cancelled"
    events = [e async for e in client.stream_events(run.run_id, after=seen[-1].seq)]
    assert events[-1].type is EventType.CANCELLED and events[-1].data["reason"] == "user pressed stop"
    left = [p for p in sandbox.processes() if marker in p or session_id in p]
    assert left == [], f"processes survived the cancel: {left}"


# ----------------------------------------------------------------------------------------------- docker


def container_processes(container: docker.models.containers.Container) -> list[str]:
    script = (
        "import os\n"
        "for p in os.listdir('/proc'):\n"
        "    if p.isdigit():\n"
        "        try: print(open(f'/proc/{p}/cmdline','rb').read().replace(b'\\0',b' ').decode())\n"
        "        except OSError: pass\n"
    )
    code, output = container.exec_run(["/opt/venv/bin/python", "-c", script], user="10001")
    assert code == 0, output
    return [line for line in output.decode().splitlines() if line.strip() and "/proc" not in line]


@pytest.fixture
async def docker_sandbox(
    docker_backend: DockerBackend,
    docker_client: docker.DockerClient,
    make_spec: SpecFactory,
    git_server: GitHTTPServer,
) -> AsyncIterator[Sandbox]:
    handle = await docker_backend.start(make_spec())
    await docker_backend.wait_healthy(handle, 60)
    container = docker_client.containers.get(handle.executor_id)
    async with ExecutorClient(f"http://{handle.host}:{handle.port}", TOKEN, timeout=60) as client:
        status = await client.prepare_workspace(
            f"{git_server.url_for('host.docker.internal')}/app.git", token=GIT_TOKEN
        )
        assert status.cloned and status.branch == "main" and status.path == "/workspace"

        def shell(command: str) -> tuple[int, str]:
            code, output = container.exec_run(["sh", "-c", command], user="10001")
            return code, output.decode()

        yield Sandbox(client, "/workspace", lambda: container_processes(container), shell)


@pytest.mark.docker
async def test_container_claude_edits_the_clone_and_resumes(
    docker_sandbox: Sandbox, model_server: AnthropicScriptServer
) -> None:
    await edit_resume_and_diff(docker_sandbox, model_server, model_server.url_for("host.docker.internal"))
    assert docker_sandbox.shell is not None
    # The CLI ran as the sandbox's unprivileged user: the files it wrote are that user's.
    code, output = docker_sandbox.shell("stat -c %u /workspace/NOTES.md /workspace/app.py")
    assert code == 0 and output.split() == ["10001", "10001"], output


@pytest.mark.docker
async def test_container_cancel_kills_the_cli_and_its_tools(
    docker_sandbox: Sandbox, model_server: AnthropicScriptServer
) -> None:
    await cancel_kills_the_cli(docker_sandbox, model_server, model_server.url_for("host.docker.internal"))


# ------------------------------------------------------------------------------------------------ local


def host_processes() -> list[str]:
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return [line for line in lines if line.strip()]


@pytest.fixture
async def local_sandbox(
    local_backend: LocalBackend, make_local_spec: SpecFactory, git_server: GitHTTPServer, tmp_path: Path
) -> AsyncIterator[Sandbox]:
    try:
        find_claude()
    except RunFailed as exc:
        pytest.fail(f"{exc.message}", pytrace=False)
    work = tmp_path / "work"
    spec = make_local_spec(workdir_volume=str(work), env={"WEGENT_CLAUDE_CONFIG_DIR": str(tmp_path / "claude")})
    handle = await local_backend.start(spec)
    await local_backend.wait_healthy(handle, 30)
    async with ExecutorClient(f"http://{handle.host}:{handle.port}", TOKEN, timeout=60) as client:
        status = await client.prepare_workspace(f"{git_server.url_for('127.0.0.1')}/app.git", token=GIT_TOKEN)
        assert status.cloned and status.path == str(work)
        yield Sandbox(client, str(work), host_processes)


async def test_local_claude_edits_the_clone_and_resumes(
    local_sandbox: Sandbox, model_server: AnthropicScriptServer
) -> None:
    await edit_resume_and_diff(local_sandbox, model_server, model_server.url)
    # The CLI kept its session in the configured directory, not in the host user's own ~/.claude.
    config = Path(local_sandbox.workdir).parent / "claude"
    assert list(config.rglob("*.jsonl")), f"no session file under {config}"


async def test_local_cancel_while_the_model_streams(
    local_sandbox: Sandbox, model_server: AnthropicScriptServer
) -> None:
    """As root (the local backend, no sandbox) the CLI may not run Bash, so the run is stopped mid-answer."""
    model_server.script([Turn(text="Thinking very hard", stall=True)])
    run = request(model_server.url, "Think about it.")
    client = local_sandbox.client
    await client.start_run(run)
    seen: list[RunEvent] = []

    async def until_text() -> None:
        async for event in client.stream_events(run.run_id):
            seen.append(event)
            if event.type is EventType.TEXT:
                return

    await asyncio.wait_for(until_text(), 90)
    session_id = seen[0].data["session_id"]
    assert any(session_id in p for p in host_processes())
    await client.cancel(run.run_id, reason="stop")
    events = [e async for e in client.stream_events(run.run_id, after=seen[-1].seq)]
    assert events[-1].type is EventType.CANCELLED
    assert [p for p in host_processes() if session_id in p] == []
    await model_server.wait_for(lambda log: any(r.disconnected for r in log if r.kind == "agent"), 10)
