"""The `prepare_workspace` activity on the real database: a Workspace resource (token encrypted at rest) is
cloned into a real executor, clone failures are final and clear, and `workspace_summary` reads the diff."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.context import WorkerContext
from activities.relay import NullRelay
from activities.tokens import executor_token
from activities.workspace_activities import WorkspaceActivities, workspace_id_of, workspace_summary
from core.db.models import Resource, User
from core.db.session import get_sessionmaker
from core.resource_store import ResourceStore
from executor.app import create_app
from executor.client import ExecutorClient
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.model_server import ServerThread
from wegent.config import get_settings
from wegent.crypto import get_keyring, is_encrypted
from workflows.models import ExecutorRef, WorkspaceInput

GIT_TOKEN = "ghp_activityWorkspaceToken42"


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    root = tmp_path_factory.mktemp("activity-git")
    make_repo(root / "svc.git", {"main.go": "package main\n"})
    with GitHTTPServer(root, token=GIT_TOKEN, host="127.0.0.1") as server:
        yield server


def apply_workspace(client: Any, headers: dict[str, str], name: str, git_url: str, token: str) -> int:
    doc = {
        "kind": "Workspace",
        "metadata": {"name": name},
        "spec": {"repository": {"gitUrl": git_url, "branch": "main", "token": token}},
    }
    response = client.post(
        "/api/v1/namespaces/default/apply", content=yaml.safe_dump_all([doc]).encode(), headers=headers
    )
    assert response.status_code == 200, response.text
    with get_sessionmaker()() as db:
        row = db.scalar(select(Resource).where(Resource.kind == "Workspace", Resource.name == name))
        assert row is not None
        assert is_encrypted(row.spec["repository"]["token"])  # never plaintext at rest
        return row.id


@pytest.fixture
def executor(tmp_path: Path) -> Iterator[tuple[str, ExecutorRef, Path]]:
    workflow_id = f"task-ws-{uuid.uuid4().hex[:8]}"
    workdir = tmp_path / "work"
    workdir.mkdir()
    server = ServerThread(create_app(executor_token(workflow_id), workdir), "127.0.0.1")
    server.start()
    yield workflow_id, ExecutorRef(host="test", backend="local", executor_id="ws-test", port=server.port), workdir
    server.stop()


def activities() -> tuple[WorkspaceActivities, ActivityEnvironment]:
    ctx = WorkerContext(
        settings=get_settings(),
        sessions=get_sessionmaker(),
        keyring=get_keyring(),
        backend=None,  # type: ignore[arg-type]  # not used by these activities
        relay=NullRelay(),
        host="test",
    )
    return WorkspaceActivities(ctx), ActivityEnvironment()


async def test_prepare_workspace_clones_and_summarises(
    client: Any, admin_headers: dict[str, str], git_server: GitHTTPServer, executor: tuple[str, ExecutorRef, Path]
) -> None:
    workflow_id, ref, workdir = executor
    url = f"{git_server.url_for('127.0.0.1')}/svc.git"
    workspace_id = apply_workspace(client, admin_headers, f"ws-{uuid.uuid4().hex[:6]}", url, GIT_TOKEN)
    acts, env = activities()
    request = WorkspaceInput(task_id=1, workflow_id=workflow_id, workspace_id=workspace_id, executor=ref)

    result = await env.run(acts.prepare_workspace, request)
    assert result.workspace_id == workspace_id
    assert (result.git_url, result.branch) == (url, "main") and result.head
    assert GIT_TOKEN not in repr(result)
    assert (workdir / "main.go").exists()
    assert await env.run(acts.prepare_workspace, request) == result  # a retried activity is a no-op

    async with ExecutorClient(f"http://127.0.0.1:{ref.port}", executor_token(workflow_id)) as executor_client:
        assert await workspace_summary(executor_client) == {
            "git_url": url,
            "branch": "main",
            "head": result.head,
            "base": result.head,
            "changed_files": 0,
            "status": "",
            "diff_stat": "",
            "diff": "",
            "diff_truncated": False,
        }
        (workdir / "main.go").write_text("package main\n\nfunc main() {}\n")
        summary = await workspace_summary(executor_client, max_diff_bytes=10_000)
        assert summary["changed_files"] == 1 and "+func main() {}" in summary["diff"]
        assert "main.go" in summary["diff_stat"]

    async with ExecutorClient("http://127.0.0.1:9", "x", retries=0, connect_timeout=1) as unreachable:
        assert "unavailable" in (await workspace_summary(unreachable))["error"]


async def test_clone_failure_is_final_and_clear(
    client: Any, admin_headers: dict[str, str], git_server: GitHTTPServer, executor: tuple[str, ExecutorRef, Path]
) -> None:
    workflow_id, ref, _ = executor
    wrong = "ghp_wrongActivityToken"
    name = f"ws-{uuid.uuid4().hex[:6]}"
    workspace_id = apply_workspace(client, admin_headers, name, f"{git_server.url_for('127.0.0.1')}/svc.git", wrong)
    acts, env = activities()
    with pytest.raises(ApplicationError) as caught:
        await env.run(
            acts.prepare_workspace,
            WorkspaceInput(task_id=1, workflow_id=workflow_id, workspace_id=workspace_id, executor=ref),
        )
    error = caught.value
    assert error.type == "WorkspaceCloneFailed" and error.non_retryable
    assert f"could not clone workspace 'default/{name}'" in error.message
    assert "authentication failed: the server rejected the token" in error.message
    assert wrong not in error.message

    with pytest.raises(ApplicationError) as missing:
        await env.run(
            acts.prepare_workspace,
            WorkspaceInput(task_id=1, workflow_id=workflow_id, workspace_id=10**9, executor=ref),
        )
    assert missing.value.type == "WorkspaceNotFound" and missing.value.non_retryable


def test_workspace_id_of_a_task(client: Any, admin_headers: dict[str, str], git_server: GitHTTPServer) -> None:
    name = f"ws-{uuid.uuid4().hex[:6]}"
    workspace_id = apply_workspace(client, admin_headers, name, f"{git_server.url_for('127.0.0.1')}/svc.git", "t")
    with get_sessionmaker()() as db:
        admin = db.scalar(select(User).where(User.username == "admin"))
        store = ResourceStore(db, admin, get_keyring())
        task = SimpleNamespace(workspace_name=name, workspace_namespace="default")
        assert workspace_id_of(store, task) == workspace_id  # type: ignore[arg-type]
        assert workspace_id_of(store, SimpleNamespace(workspace_name=None, workspace_namespace=None)) is None  # type: ignore[arg-type]
        with pytest.raises(LookupError, match="no longer exists"):
            workspace_id_of(store, SimpleNamespace(workspace_name="gone", workspace_namespace="default"))  # type: ignore[arg-type]
