"""Workspaces on the executor's host: clone the task's repository into its sandbox, summarise what changed.

``prepare_workspace`` runs on the host queue of the executor's host (it talks to 127.0.0.1:<port>, like the
agent step). The Workspace's git token is decrypted here, at use, and handed to the executor for the clone
only: it is never part of an activity input or result (Temporal history), a log line, or the clone's config.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext
from activities.tokens import executor_token
from core.db.models import Resource, Task
from core.resource_store import ResourceStore
from core.secrets import reveal
from executor.client import ExecutorClient, ExecutorError, WorkspaceCloneError, WorkspaceConflict
from wegent.crypto import Keyring
from wegent.logging import get_logger
from workflows import activity_names
from workflows.models import WorkspaceInput, WorkspaceResult

log = get_logger("activities.workspace")
CLONE_TIMEOUT_SECONDS = 600.0
SUMMARY_DIFF_BYTES = 20_000
HEARTBEAT_SECONDS = 5.0


@dataclass
class Repository:
    name: str
    git_url: str
    branch: str | None
    depth: int
    token: str | None

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"Repository(name={self.name!r}, git_url={self.git_url!r}, branch={self.branch!r})"

    __str__ = __repr__


class WorkspaceNotFound(LookupError):
    pass


def load_repository(db: Session, workspace_id: int, keyring: Keyring) -> Repository:
    """The Workspace row's repository with its token decrypted (for the executor call only)."""
    row = db.get(Resource, workspace_id)
    if row is None or row.kind != "Workspace":
        raise WorkspaceNotFound(f"workspace {workspace_id} was deleted while the task was running")
    spec = reveal("Workspace", row.spec, keyring)
    repository = spec.get("repository") or {}
    return Repository(
        name=f"{row.namespace}/{row.name}",
        git_url=str(repository["gitUrl"]),
        branch=repository.get("branch") or None,
        depth=int(repository.get("depth", 1)),
        token=repository.get("token") or None,
    )


def workspace_id_of(store: ResourceStore, task: Task) -> int | None:
    """The Workspace resource row a task names (own first, then public), for ``TaskPlan.workspace_id``."""
    if not task.workspace_name:
        return None
    namespace = task.workspace_namespace or "default"
    row = store.resolve("Workspace", namespace, task.workspace_name)
    if row is None:
        raise WorkspaceNotFound(f"workspace '{namespace}/{task.workspace_name}' no longer exists")
    return row.id


async def workspace_summary(client: ExecutorClient, max_diff_bytes: int = SUMMARY_DIFF_BYTES) -> dict[str, Any]:
    """Git status and diff of the executor's workspace for a message's meta; ``{}`` when there is no clone.

    Never raises: a summary is decoration, so a failure is reported inside it instead of failing the step.
    """
    try:
        status = await client.workspace_status(max_diff_bytes=max_diff_bytes)
    except ExecutorError as exc:
        return {"error": f"workspace status unavailable: {exc}"}
    if not status.cloned:
        return {}
    changed = [line for line in status.status.splitlines() if line.strip()]
    return {
        "git_url": status.git_url,
        "branch": status.branch,
        "head": status.head,
        "base": status.base,
        "changed_files": len(changed),
        "status": status.status,
        "diff_stat": status.diff_stat,
        "diff": status.diff,
        "diff_truncated": status.diff_truncated,
    }


class WorkspaceActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=activity_names.PREPARE_WORKSPACE)
    async def prepare_workspace(self, request: WorkspaceInput) -> WorkspaceResult:
        bound = log.bind(task_id=request.task_id, workflow_id=request.workflow_id, workspace_id=request.workspace_id)
        try:
            repo = await self.ctx.db(lambda db: load_repository(db, request.workspace_id, self.ctx.keyring))
        except WorkspaceNotFound as exc:
            raise ApplicationError(str(exc), type="WorkspaceNotFound", non_retryable=True) from exc
        url = f"http://127.0.0.1:{request.executor.port}"
        beat = asyncio.create_task(_heartbeat_every(HEARTBEAT_SECONDS))
        try:
            async with ExecutorClient(url, executor_token(request.workflow_id)) as client:
                status = await client.prepare_workspace(
                    repo.git_url, branch=repo.branch, depth=repo.depth, token=repo.token, timeout=CLONE_TIMEOUT_SECONDS
                )
        except WorkspaceCloneError as exc:
            where = f"{repo.git_url}" + (f" (branch {repo.branch})" if repo.branch else "")
            bound.warning("workspace.clone_failed", url=repo.git_url, branch=repo.branch)
            raise ApplicationError(
                f"could not clone workspace '{repo.name}' from {where}: {exc}",
                type="WorkspaceCloneFailed",
                non_retryable=True,
            ) from None
        except WorkspaceConflict as exc:
            raise ApplicationError(
                f"workspace '{repo.name}': {exc}", type="WorkspaceConflict", non_retryable=True
            ) from None
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        bound.info("workspace.ready", url=status.git_url, branch=status.branch, head=status.head)
        return WorkspaceResult(
            workspace_id=request.workspace_id, git_url=status.git_url, branch=status.branch, head=status.head
        )


async def _heartbeat_every(seconds: float) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(seconds)
