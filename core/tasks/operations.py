"""Task operations shared by the REST API and the Socket.IO chat: create, follow up, cancel.

Each stores its change in the database first, then tells Temporal; a Temporal failure leaves the task in a
clear state rather than silently PENDING.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TypeVar

from sqlalchemy import delete, update
from sqlalchemy.orm import Session
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from core import audit, quotas
from core import tasks as svc
from core.db.models import Message, Task, User, utcnow
from core.db.session import in_session
from core.resource_store import StoreError
from core.tasks.records import set_state
from wegent.temporal.client import TemporalUnavailable, get_temporal
from workflows.models import Approval, FollowUp, Rejection, TaskState
from workflows.task_workflow import TaskWorkflow

T = TypeVar("T")


def _within_budget(db: Session, user: User) -> None:
    reason = quotas.refusal(db, user)
    if reason:
        raise StoreError(429, reason)


async def create_task(
    user: User,
    team: str,
    team_namespace: str,
    prompt: str,
    title: str | None = None,
    workspace: tuple[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[Task, Message]:
    def create(db: Session) -> tuple[Task, Message, bool]:
        # One session on the way to the first token: each thread hop and connection checkout costs more than
        # the queries themselves.
        _within_budget(db, user)
        task, message = svc.create_task_row(db, user, team, team_namespace, prompt, title, workspace, labels)
        return task, message, _claims_slot(db, task.id)

    task, message, claimed = await in_session(create)
    try:
        client = await get_temporal()
        await svc.start_workflow(client, task, user.username, slot_claimed=claimed)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the task must not stay PENDING
        reason = f"could not start the task workflow: {exc}"
        await in_session(lambda db: set_state(db, task.id, TaskState.FAILED, reason))
        raise StoreError(503, reason) from exc
    return task, message


def _claims_slot(db: Session, task_id: int) -> bool:
    """Claim the owner's running slot for the task's turn now, as the workflow would (True: it may run), and
    commit with whatever the session wrote before. A turn that must wait is left to the workflow, which shows it
    PENDING with the reason until a slot frees."""
    return quotas.claim_slot_and_commit(db, task_id) is None


def _reopen(db: Session, user: User, task: Task, content: str) -> Message:
    """The task's next turn and its message, written but not committed (the caller commits them with the claim)."""
    task_id = task.id
    if task.state not in TaskState.TERMINAL:
        raise StoreError(409, f"task {task_id} is {task.state}: wait until it finishes before sending a follow-up")
    turn = task.turn + 1
    # Guarded on the turn and terminal state so two concurrent follow-ups cannot both win.
    result = db.execute(
        update(Task)
        .where(Task.id == task_id, Task.turn == task.turn, Task.state.in_(TaskState.TERMINAL))
        .values(turn=turn, state=TaskState.PENDING, error=None, finished_at=None, updated_at=utcnow())
    )
    if not result.rowcount:
        db.rollback()
        raise StoreError(409, f"task {task_id} changed concurrently; retry")
    message = Message(task_id=task_id, turn=turn, step=0, role="user", content=content, status="done")
    db.add(message)
    audit.record(db, user, "task.follow_up", f"task/{task_id}", {"turn": turn})
    db.flush()
    return message


def _undo_reopen(db: Session, task: Task, message: Message, previous_state: str) -> None:
    db.execute(
        update(Task)
        .where(Task.id == task.id, Task.turn == task.turn, Task.state.in_((TaskState.PENDING, TaskState.RUNNING)))
        .values(turn=task.turn - 1, state=previous_state)
    )
    db.execute(delete(Message).where(Message.id == message.id))
    db.commit()


async def follow_up(user: User, task_id: int, content: str) -> tuple[Task, Message]:
    """A new turn on a finished task: the live workflow takes it as an update, or a new run starts."""

    def reopen(db: Session) -> tuple[str, Task, Message, bool]:
        # One transaction on the way to the first token. The owner's row is read once: the budget check and the
        # slot claim both take their limits from it.
        owner = db.get(User, user.id)
        _within_budget(db, owner if owner is not None else user)
        task = svc.scoped_task(db, user, task_id)
        previous_state = task.state
        message = _reopen(db, user, task, content)
        return previous_state, task, message, _claims_slot(db, task_id)

    previous_state, task, message, claimed = await in_session(reopen)
    try:
        client = await get_temporal()
        handle = client.get_workflow_handle(task.workflow_id or svc.workflow_id_for(task.id))
        try:
            await handle.execute_update(
                TaskWorkflow.follow_up, FollowUp(turn=task.turn, content=content, slot_claimed=claimed)
            )
        except (WorkflowUpdateFailedError, RPCError) as exc:
            if isinstance(exc, RPCError) and exc.status != RPCStatusCode.NOT_FOUND:
                raise
            if isinstance(exc, WorkflowUpdateFailedError):
                raise StoreError(409, f"task {task_id} refused the follow-up: {_cause(exc)}") from exc
            # The workflow ended after its idle timeout: a new run of `task-{id}` continues the conversation.
            await svc.start_workflow(client, task, user.username, slot_claimed=claimed)
    except StoreError:
        await in_session(lambda db: _undo_reopen(db, task, message, previous_state))
        raise
    except (TemporalUnavailable, Exception) as exc:  # noqa: BLE001
        reason = f"could not deliver the follow-up: {exc}"
        await in_session(lambda db: set_state(db, task.id, TaskState.FAILED, reason))
        raise StoreError(503, reason) from exc
    return task, message


async def decide(user: User, task_id: int, approve: bool, text: str | None) -> Task:
    """Approve (optionally with an edited hand-off) or reject a stage waiting in PENDING_CONFIRMATION."""
    task = await in_session(lambda db: svc.scoped_task(db, user, task_id))
    if task.state != TaskState.PENDING_CONFIRMATION:
        raise StoreError(409, f"task {task_id} is not waiting for approval (it is {task.state})")
    try:
        client = await get_temporal()
    except TemporalUnavailable as exc:
        raise StoreError(503, str(exc)) from exc
    handle = client.get_workflow_handle(task.workflow_id or svc.workflow_id_for(task.id))
    try:
        if approve:
            await handle.execute_update(TaskWorkflow.approve, Approval(handoff=text))
        else:
            await handle.execute_update(TaskWorkflow.reject, Rejection(reason=text or "rejected by the user"))
    except WorkflowUpdateFailedError as exc:
        raise StoreError(409, f"task {task_id}: {_cause(exc)}") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise StoreError(409, f"task {task_id} is no longer running") from exc
        raise StoreError(503, f"Temporal refused the decision: {exc}") from exc
    # The decision lives in the workflow (an update); its record follows once Temporal accepted it.
    detail = {"edited": text is not None} if approve else {"reason": text or "rejected by the user"}
    await in_session(lambda db: _audited(db, user, "task.approve" if approve else "task.reject", task_id, detail))
    return await in_session(lambda db: svc.scoped_task(db, user, task_id))


def _reopen_for_retry(db: Session, user: User, task_id: int, model: tuple[str, str] | None) -> tuple[Task, int | None]:
    task = svc.scoped_task(db, user, task_id)
    if task.state != TaskState.FAILED:
        raise StoreError(409, f"task {task_id} is {task.state}: only a FAILED task can be retried")
    model_id = None
    if model is not None:
        from core.resource_store import ResourceStore
        from wegent.crypto import get_keyring
        from wegent.resources import FieldError

        found = ResourceStore(db, user, get_keyring()).resolve("Model", model[0], model[1])
        if found is None:
            raise StoreError(
                422,
                "unknown model",
                [FieldError(field="model.name", message=f"Model '{model[0]}/{model[1]}' does not exist")],
            )
        model_id = found.id
    result = db.execute(
        update(Task)
        .where(Task.id == task_id, Task.state == TaskState.FAILED)
        .values(state=TaskState.PENDING, error=None, finished_at=None, updated_at=utcnow())
    )
    if not result.rowcount:
        db.rollback()
        raise StoreError(409, f"task {task_id} changed concurrently; retry")
    detail = {"model": f"{model[0]}/{model[1]}"} if model else {}
    audit.record(db, user, "task.retry", f"task/{task_id}", detail)
    db.commit()
    db.refresh(task)
    return task, model_id


async def retry_task(user: User, task_id: int, model: tuple[str, str] | None = None) -> Task:
    """Continue a FAILED task from the step that failed; completed steps of the turn are reused, not re-run."""

    def reopen(db: Session) -> tuple[Task, int | None]:
        _within_budget(db, user)
        return _reopen_for_retry(db, user, task_id, model)

    task, model_id = await in_session(reopen)
    try:
        client = await get_temporal()
        await svc.start_workflow(client, task, user.username, retry=True, model_override_id=model_id)
    except Exception as exc:  # noqa: BLE001 - put the task back as it was, with the reason
        reason = f"could not start the retry: {exc}"
        await in_session(lambda db: set_state(db, task.id, TaskState.FAILED, reason))
        raise StoreError(503, reason) from exc
    return task


async def cancel_task(user: User, task_id: int) -> Task:
    task = await in_session(lambda db: svc.scoped_task(db, user, task_id))
    if task.state in TaskState.TERMINAL:
        raise StoreError(409, f"task {task_id} is already {task.state}")
    try:
        client = await get_temporal()
    except TemporalUnavailable as exc:
        raise StoreError(503, str(exc)) from exc
    known = await svc.cancel_workflow(client.get_workflow_handle(task.workflow_id or svc.workflow_id_for(task.id)))
    state = TaskState.CANCELLING if known else TaskState.CANCELLED
    await in_session(lambda db: set_state(db, task.id, state, "cancelled by the user"))
    await in_session(lambda db: _audited(db, user, "task.cancel", task_id, {}))
    return await in_session(lambda db: svc.scoped_task(db, user, task_id))


#: How long a delete waits for the task's workflow to stop its sandbox and close before terminating it.
DELETE_WAIT_S = 60.0


async def delete_task(user: User, task_id: int) -> None:
    """Stop the task (its workflow removes the sandbox on the way out), then remove it and its messages.

    A finished task's workflow may still be open, waiting for a follow-up with its sandbox warm: it is
    cancelled too. One that does not close in time is terminated, and the reaper removes what it left.
    """
    task = await in_session(lambda db: svc.scoped_task(db, user, task_id))
    try:
        client = await get_temporal()
    except TemporalUnavailable as exc:
        raise StoreError(503, str(exc)) from exc
    handle = client.get_workflow_handle(task.workflow_id or svc.workflow_id_for(task.id))
    if await svc.cancel_workflow(handle):
        try:
            await asyncio.wait_for(handle.result(), DELETE_WAIT_S)
        except TimeoutError:
            with contextlib.suppress(RPCError):
                await handle.terminate("the task was deleted")
        except Exception:  # noqa: BLE001, S110 - cancelled or failed: either way the workflow has closed
            pass
    await in_session(lambda db: _delete_rows(db, user, task_id))


def _delete_rows(db: Session, user: User, task_id: int) -> None:
    db.execute(delete(Message).where(Message.task_id == task_id))
    db.execute(delete(Task).where(Task.id == task_id))
    audit.record(db, user, "task.delete", f"task/{task_id}")
    db.commit()


def _audited(db: Session, user: User, action: str, task_id: int, detail: dict[str, Any]) -> None:
    audit.record(db, user, action, f"task/{task_id}", detail)
    db.commit()


def _cause(exc: BaseException) -> str:
    while getattr(exc, "cause", None) is not None:
        exc = exc.cause  # type: ignore[attr-defined]
    return getattr(exc, "message", None) or str(exc)


def task_payload(task: Task) -> dict[str, Any]:
    return svc.task_summary(task)
