"""Tasks: create (store + start the workflow), list, read with messages, cancel."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.db.models import Message, Task, User
from api.services import audit
from api.services.resource_store import ResourceStore, StoreError
from api.temporal import console_url
from wegent.config import get_settings
from wegent.crypto import get_keyring
from wegent.resources import FieldError
from workflows import search_attributes as sa
from workflows.models import TaskInput, TaskState


def workflow_id_for(task_id: int) -> str:
    return f"task-{task_id}"


def create_task_row(
    db: Session,
    user: User,
    team_name: str,
    team_namespace: str,
    prompt: str,
    title: str | None,
    workspace: tuple[str, str] | None = None,
    labels: dict[str, str] | None = None,
    schedule_id: int | None = None,
) -> tuple[Task, Message]:
    store = ResourceStore(db, user, get_keyring())
    team = store.resolve("Team", team_namespace, team_name)
    if team is None:
        raise StoreError(
            422,
            "unknown team",
            [FieldError(field="team.name", message=f"Team '{team_namespace}/{team_name}' does not exist")],
        )
    if workspace is not None and store.resolve("Workspace", workspace[0], workspace[1]) is None:
        raise StoreError(
            422,
            "unknown workspace",
            [FieldError(field="workspace.name", message=f"Workspace '{workspace[0]}/{workspace[1]}' does not exist")],
        )
    task = Task(
        owner_id=user.id,
        team_name=team_name,
        team_namespace=team_namespace,
        workspace_namespace=workspace[0] if workspace else None,
        workspace_name=workspace[1] if workspace else None,
        collaboration_model=team.spec.get("collaborationModel", "pipeline"),
        title=(title or prompt.strip().splitlines()[0])[:255],
        prompt=prompt,
        state=TaskState.PENDING,
        labels=labels or {},
        schedule_id=schedule_id,
    )
    db.add(task)
    db.flush()
    task.workflow_id = workflow_id_for(task.id)
    message = Message(task_id=task.id, turn=1, step=0, role="user", content=prompt, status="done")
    db.add(message)
    detail = {"team": f"{team_namespace}/{team_name}", **({"scheduleId": schedule_id} if schedule_id else {})}
    audit.record(db, user, "task.create", f"task/{task.id}", detail)
    db.commit()
    return task, message


def search_attributes(task: Task, username: str) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.TASK_ID, task.id),
        SearchAttributePair(sa.USER, username),
        SearchAttributePair(sa.TEAM, f"{task.team_namespace}/{task.team_name}"),
        SearchAttributePair(sa.COLLABORATION_MODEL, task.collaboration_model),
        SearchAttributePair(sa.STATE, task.state),
    ]
    if task.schedule_id is not None:
        pairs.append(SearchAttributePair(sa.SCHEDULE_ID, task.schedule_id))
    return TypedSearchAttributes(pairs)


def task_input(task: Task, retry: bool = False, model_override_id: int | None = None) -> TaskInput:
    settings = get_settings()
    return TaskInput(
        task_id=task.id,
        retry=retry,
        model_override_id=model_override_id,
        agent_heartbeat_seconds=settings.agent_heartbeat_seconds,
        executor_idle_seconds=settings.executor_idle_seconds,
        task_idle_seconds=settings.task_idle_seconds,
        max_history_events=settings.max_history_events,
    )


async def start_workflow(
    client: Client, task: Task, username: str, retry: bool = False, model_override_id: int | None = None
) -> None:
    """Start (or, for a retry or a late follow-up, start again) the task's workflow `task-{id}`."""
    workflow_id = task.workflow_id or workflow_id_for(task.id)

    async def start() -> None:
        await client.start_workflow(
            "TaskWorkflow",
            task_input(task, retry, model_override_id),
            id=workflow_id,
            task_queue=get_settings().task_queue,
            search_attributes=search_attributes(task, username),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    try:
        await start()
    except WorkflowAlreadyStartedError:
        if task.turn == 1 and not retry:
            raise
        # The previous run has recorded its end but is still releasing its sandbox: let it finish first.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), timeout=60)
        await start()


def scoped_task(db: Session, user: User, task_id: int) -> Task:
    task = db.get(Task, task_id)
    if task is None or (task.owner_id != user.id and not user.is_admin):
        raise StoreError(404, f"task {task_id} not found")
    return task


def list_tasks(
    db: Session, user: User, state: str | None, team: str | None, limit: int, offset: int
) -> tuple[list[Task], int]:
    query = select(Task)
    if not user.is_admin:
        query = query.where(Task.owner_id == user.id)
    if state:
        query = query.where(Task.state == state.upper())
    if team:
        namespace, _, name = team.rpartition("/")
        query = query.where(Task.team_name == name)
        if namespace:
            query = query.where(Task.team_namespace == namespace)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(Task.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def task_summary(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "state": task.state,
        "team": {"name": task.team_name, "namespace": task.team_namespace},
        "collaborationModel": task.collaboration_model,
        "turn": task.turn,
        "currentStep": task.current_step,
        "currentBot": task.current_bot,
        "error": task.error,
        "usage": {"inputTokens": task.input_tokens, "outputTokens": task.output_tokens, "cost": task.cost},
        "labels": task.labels,
        "scheduleId": task.schedule_id,
        "workflowId": task.workflow_id,
        "consoleUrl": console_url(task.workflow_id or workflow_id_for(task.id)),
        "createdAt": _iso(task.created_at),
        "updatedAt": _iso(task.updated_at),
        "finishedAt": _iso(task.finished_at),
    }


def message_view(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "turn": m.turn,
        "step": m.step,
        "attempt": m.attempt,
        "role": m.role,
        "bot": m.bot,
        "content": m.content,
        "status": m.status,
        "usage": {"inputTokens": m.input_tokens, "outputTokens": m.output_tokens, "cost": m.cost},
        "meta": m.meta,
        "createdAt": _iso(m.created_at),
        "finishedAt": _iso(m.finished_at),
    }


def task_detail(db: Session, task: Task) -> dict[str, Any]:
    messages = list(db.scalars(select(Message).where(Message.task_id == task.id).order_by(Message.id)))
    return {
        **task_summary(task),
        "prompt": task.prompt,
        "messages": [message_view(m) for m in messages],
        "steps": [step_view(m) for m in messages if m.role != "user"],
    }


def step_view(m: Message) -> dict[str, Any]:
    """The plan as it ran: one entry per step of each turn, with state, bot, timings and usage."""
    return {
        "turn": m.turn,
        "step": m.step,
        "attempt": m.attempt,
        "bot": m.bot,
        "kind": (m.meta or {}).get("kind", "answer"),
        "state": m.status,
        "startedAt": _iso(m.created_at),
        "finishedAt": _iso(m.finished_at),
        "usage": {"inputTokens": m.input_tokens, "outputTokens": m.output_tokens, "cost": m.cost},
        "messageId": m.id,
    }


async def cancel_workflow(handle: WorkflowHandle) -> bool:
    """Ask the workflow to cancel. False when Temporal does not know it (it never started or already closed)."""
    try:
        await handle.cancel()
    except RPCError:
        return False
    return True


def _iso(value: Any) -> str | None:
    return value.isoformat() + "Z" if value is not None else None
