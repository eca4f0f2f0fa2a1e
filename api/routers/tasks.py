"""Tasks: a team working on a prompt, run as the Temporal workflow `task-{id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

from api.deps import MAX_OFFSET, CurrentUser, SessionDep
from api.models_public import FollowUpPublic, TaskDetailPublic, TaskListPublic, TaskPublic
from api.services.task_queue import queue_positions
from core import tasks as svc
from core.tasks import operations as task_ops
from wegent.realtime import NAMESPACE, user_room
from wegent.realtime_payloads import TaskCreated
from wegent.resources import NameStr

router = APIRouter(prefix="/tasks", tags=["tasks"])


class RefIn(BaseModel):
    name: NameStr
    namespace: NameStr = "default"


class TaskCreate(BaseModel):
    team: RefIn
    prompt: str = Field(min_length=1, max_length=200_000)
    title: str | None = Field(None, max_length=255)
    workspace: RefIn | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class FollowUpIn(BaseModel):
    message: str = Field(min_length=1, max_length=200_000)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TaskPublic)
async def create_task(body: TaskCreate, user: CurrentUser, request: Request) -> dict[str, Any]:
    workspace = (body.workspace.namespace, body.workspace.name) if body.workspace else None
    task, _ = await task_ops.create_task(
        user, body.team.name, body.team.namespace, body.prompt, body.title, workspace, body.labels
    )
    summary = svc.task_summary(task)
    sio = getattr(request.app.state, "sio", None)
    if sio is not None:  # the user's open task lists (web app, other tabs) show it at once, as for chat:send
        created = TaskCreated.model_validate(summary)
        await sio.emit(created.event, created.wire(), room=user_room(user.id), namespace=NAMESPACE)
    return summary


@router.get("", response_model=TaskListPublic)
def list_tasks(
    db: SessionDep,
    user: CurrentUser,
    state: str | None = None,
    team: Annotated[str | None, Query(description="team name or namespace/name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    rows, total = svc.list_tasks(db, user, state, team, limit, offset)
    positions = queue_positions(db, rows)
    items = [{**svc.task_summary(t), "queuePosition": positions.get(t.id)} for t in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{task_id}", response_model=TaskDetailPublic)
def get_task(task_id: int, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    task = svc.scoped_task(db, user, task_id)
    return {**svc.task_detail(db, task), "queuePosition": queue_positions(db, [task]).get(task.id)}


@router.post("/{task_id}/messages", status_code=status.HTTP_202_ACCEPTED, response_model=FollowUpPublic)
async def follow_up(task_id: int, body: FollowUpIn, user: CurrentUser) -> dict[str, Any]:
    """A follow-up turn on a finished task (refused with 409 while it runs)."""
    task, message = await task_ops.follow_up(user, task_id, body.message)
    return {**svc.task_summary(task), "messageId": message.id}


class ApproveIn(BaseModel):
    handoff: str | None = Field(None, max_length=200_000, description="edited input for the next stage")


class RejectIn(BaseModel):
    reason: str | None = Field(None, max_length=10_000)


@router.post("/{task_id}/approve", status_code=status.HTTP_202_ACCEPTED, response_model=TaskPublic)
async def approve(task_id: int, user: CurrentUser, body: ApproveIn | None = None) -> dict[str, Any]:
    """Let a pipeline waiting in PENDING_CONFIRMATION go on (409 when it is not waiting)."""
    return svc.task_summary(await task_ops.decide(user, task_id, True, body.handoff if body else None))


@router.post("/{task_id}/reject", status_code=status.HTTP_202_ACCEPTED, response_model=TaskPublic)
async def reject(task_id: int, user: CurrentUser, body: RejectIn | None = None) -> dict[str, Any]:
    """End a pipeline waiting in PENDING_CONFIRMATION: the task becomes CANCELLED with the reason."""
    return svc.task_summary(await task_ops.decide(user, task_id, False, body.reason if body else None))


class RetryIn(BaseModel):
    model: RefIn | None = Field(None, description="run the failed and later steps on this Model instead")


@router.post("/{task_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=TaskPublic)
async def retry(task_id: int, user: CurrentUser, body: RetryIn | None = None) -> dict[str, Any]:
    """Continue a FAILED task from the failed step, reusing the outputs of the steps before it."""
    model = (body.model.namespace, body.model.name) if body and body.model else None
    return svc.task_summary(await task_ops.retry_task(user, task_id, model))


@router.post("/{task_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=TaskPublic)
async def cancel_task(task_id: int, user: CurrentUser) -> dict[str, Any]:
    return svc.task_summary(await task_ops.cancel_task(user, task_id))


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(task_id: int, user: CurrentUser) -> None:
    """Cancel the task if it runs, wait until its sandbox is gone, then remove it with its messages."""
    await task_ops.delete_task(user, task_id)
