"""Issue 16, item 3: on the local backend of a root worker, an agent cannot read the platform's secrets.

The worker here is root (as in CI). Its local executors run as uids of their own, in working directories only
that uid may open, with the state folder closed to them. A real Claude Code agent (the real CLI, Bash allowed
since it is not root) is told by a scripted model to read the state folder's key, a sibling agent's directory
and its own identity: it gets "Permission denied", never the key.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from activities.executors.agent_user import agent_user_for, for_agents, reachable_by_others
from activities.executors.base import ExecutorSpec
from activities.executors.local_backend import LocalBackend, executor_source_root
from executor.client import ExecutorClient
from tests.backends.conftest import TOKEN
from tests.backends.test_claude_code import MODEL_KEY, request, run_to_end
from tests.support.anthropic_script_server import AnthropicScriptServer, ToolUse, Turn
from wegent.config import Settings

SECRET = "platform-signing-key-" + uuid.uuid4().hex


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state folder where anyone could read it (not under pytest's private tmp), holding a readable key."""
    path = Path("/var/tmp") / f"wegent-state-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o755)
    (path / "secret_key").write_text(SECRET)
    os.chmod(path / "secret_key", 0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def confined(state_dir: Path) -> AsyncIterator[LocalBackend]:
    if os.geteuid() != 0:
        pytest.fail("these tests check what a root worker does; run them as root (CI does)", pytrace=False)
    settings = Settings(WEGENT_STATE_DIR=str(state_dir))
    agent = agent_user_for(settings, executor_source_root())
    assert agent is not None
    backend = LocalBackend(state_dir / "executors", stop_grace_s=3.0, agent=agent)
    await backend.prepare()  # fails with how to get the agents' interpreter when it is missing
    yield backend
    for info in await backend.list_managed():
        await backend.stop(info.executor_id)
    backend.close()
    shutil.rmtree(agent.root.parent, ignore_errors=True)


@pytest.fixture
def spec(make_local_spec: Callable[..., ExecutorSpec]) -> Callable[[], ExecutorSpec]:
    return lambda: make_local_spec()


def _status_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


async def test_each_local_agent_runs_as_a_uid_of_its_own_in_a_private_directory(
    confined: LocalBackend, spec: Callable[[], ExecutorSpec], state_dir: Path
) -> None:
    first, second = spec(), spec()
    handles = [await confined.start(first), await confined.start(second)]
    for handle in handles:
        await confined.wait_healthy(handle, 60)
    records = [confined._read(h.executor_id) for h in handles]
    assert records[0] and records[1]
    uids = [_status_uid(int(r["pid"])) for r in records]
    assert uids == [confined.agent.uid_for(first.port), confined.agent.uid_for(second.port)]  # type: ignore[union-attr]
    assert 0 not in uids and uids[0] != uids[1]
    for record, uid in zip(records, uids, strict=True):
        info = os.stat(record["workdir"])
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, 0o700)
        assert not Path(record["workdir"]).is_relative_to(state_dir)
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700  # closed to everyone but the worker
    await confined.stop(handles[0].executor_id)
    assert not Path(records[0]["workdir"]).exists()  # its files go with it


@pytest.fixture(scope="module")
def model_server() -> Iterator[AnthropicScriptServer]:
    with AnthropicScriptServer(api_key=MODEL_KEY) as server:
        yield server


async def test_a_claude_code_agent_cannot_read_the_key_or_another_agents_files(
    confined: LocalBackend, spec: Callable[[], ExecutorSpec], state_dir: Path, model_server: AnthropicScriptServer
) -> None:
    neighbour = await confined.start(spec())
    await confined.wait_healthy(neighbour, 60)
    neighbour_dir = confined._read(neighbour.executor_id)["workdir"]  # type: ignore[index]
    Path(neighbour_dir, "notes.txt").write_text("the neighbour's notes")
    handle = await confined.start(spec())
    await confined.wait_healthy(handle, 60)
    own_dir = confined._read(handle.executor_id)["workdir"]  # type: ignore[index]
    command = (
        f"id -u; echo HOME=$HOME; cat {state_dir}/secret_key; ls {state_dir}; cat {neighbour_dir}/notes.txt; echo END"
    )
    model_server.script(
        [
            Turn(tool_uses=[ToolUse(name="Bash", input={"command": command, "description": "look around"})]),
            Turn(text="ok"),
        ]
    )
    async with ExecutorClient(f"http://{handle.host}:{handle.port}", TOKEN, timeout=60) as client:
        events = await run_to_end(client, request(model_server.url, "Look around."))
    assert events[-1].type.value == "done", events[-1]
    (result,) = [b for r in model_server.requests("agent") for b in r.tool_results()]
    output = result["content"] if isinstance(result["content"], str) else str(result["content"])
    assert "END" in output, output  # the command ran (Bash is allowed: the agent is not root)
    assert str(confined.agent.uid_for(handle.port)) in output  # type: ignore[union-attr]
    assert f"HOME={own_dir}" in output
    assert SECRET not in output and "the neighbour's notes" not in output
    assert output.count("Permission denied") >= 3, output


def test_a_tool_only_root_may_reach_is_copied_where_agents_may_run_it(tmp_path: Path) -> None:
    """The claude CLI installed in a checkout under a private folder (a home, say) is copied, whole, for agents."""
    private = tmp_path / "private"  # pytest's tmp folders are 0700: no other uid may enter
    install = private / "tool-1.0"
    (install / "bin").mkdir(parents=True)
    (install / "lib").mkdir()
    (install / "lib" / "code.js").write_text("// the tool's code")
    binary = install / "bin" / "tool"
    binary.write_text("#!/bin/sh\necho ok\n")
    os.chmod(binary, 0o700)
    assert not reachable_by_others(binary)
    root = Path("/var/tmp") / f"wegent-tools-{uuid.uuid4().hex[:8]}"
    try:
        copied = for_agents(binary, root)
        assert copied == root / "tool-1.0" / "bin" / "tool"
        assert reachable_by_others(copied) and (root / "tool-1.0" / "lib" / "code.js").is_file()
        assert for_agents(copied, root) == copied  # reachable already: used as it is
    finally:
        shutil.rmtree(root, ignore_errors=True)
