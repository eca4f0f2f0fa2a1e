"""The worker's side of a run: the ordinary task a scheduled run becomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from core import tasks as task_svc
from core.db.models import Resource, Task, User
from core.resource_store import StoreError
from core.schedules.names import KIND, SCHEDULE_LABEL
from core.schedules.records import _write_status, run_stats
from core.schedules.template import render_prompt
from wegent.timestamps import iso_utc
from workflows.models import ScheduledRun


class ScheduleGone(LookupError):
    """The Schedule resource of a run no longer exists."""


@dataclass
class RunTask:
    task_id: int
    owner_id: int
    created: bool
    run_number: int
    summary: dict[str, Any]


def create_run_task(db: Session, run: ScheduledRun, fallback_time: datetime) -> RunTask:
    """The task of one scheduled run: idempotent per workflow id, numbered in creation order per schedule.

    Raises ScheduleGone when the resource was deleted and StoreError when its team (or workspace) is missing.
    """
    existing = db.scalar(select(Task).where(Task.workflow_id == run.workflow_id))
    if existing is not None:
        return RunTask(existing.id, existing.owner_id, False, 0, task_svc.task_summary(existing))
    # The row lock serialises run numbering across concurrent runs of one schedule (allow_all, backfills).
    row = db.scalar(
        select(Resource)
        .options(lazyload(Resource.owner))
        .where(Resource.id == run.schedule_id, Resource.kind == KIND)
        .with_for_update()
    )
    if row is None:
        db.rollback()
        raise ScheduleGone(f"schedule {run.schedule_id} was deleted; this run creates no task")
    existing = db.scalar(select(Task).where(Task.workflow_id == run.workflow_id))
    if existing is not None:  # a concurrent attempt won while we waited for the lock
        db.rollback()
        return RunTask(existing.id, existing.owner_id, False, 0, task_svc.task_summary(existing))
    owner = db.get(User, row.owner_id)
    assert owner is not None
    if not owner.is_active:  # a disabled account's schedules keep firing in Temporal but start nothing
        db.rollback()
        raise StoreError(403, f"its owner '{owner.username}' is disabled")
    spec = dict(row.spec)
    scheduled_at = datetime.fromisoformat(run.scheduled_time) if run.scheduled_time else fallback_time
    run_number = (db.scalar(select(func.count()).select_from(Task).where(Task.schedule_id == row.id)) or 0) + 1
    prompt = render_prompt(
        spec["promptTemplate"], scheduled_at, spec.get("timezone", "UTC"), row.display_name or row.name, run_number
    )
    first_line = (prompt.strip().splitlines() or [""])[0]
    title = f"[{row.name} #{run_number}] {first_line}"[:255]
    team = spec["teamRef"]
    workspace = spec.get("workspaceRef")
    name, schedule_id = row.name, row.id

    # create_task_row names the workflow `task-{id}` and commits; a run already has its workflow (Temporal's),
    # so the id is swapped in the same transaction, just before that commit.
    def use_run_workflow_id(session: Session) -> None:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Task) and obj.schedule_id == schedule_id and obj.workflow_id == f"task-{obj.id}":
                obj.workflow_id = run.workflow_id

    event.listen(db, "before_commit", use_run_workflow_id)
    try:
        task, _ = task_svc.create_task_row(
            db,
            owner,
            team["name"],
            team.get("namespace", "default"),
            prompt,
            title,
            (workspace.get("namespace", "default"), workspace["name"]) if workspace else None,
            labels={SCHEDULE_LABEL: name},
            schedule_id=schedule_id,
        )
    except IntegrityError:
        db.rollback()
        existing = db.scalar(select(Task).where(Task.workflow_id == run.workflow_id))
        if existing is None:
            raise
        return RunTask(existing.id, existing.owner_id, False, 0, task_svc.task_summary(existing))
    except StoreError:
        db.rollback()
        raise
    finally:
        event.remove(db, "before_commit", use_run_workflow_id)
    if task.workflow_id != run.workflow_id:  # defensive: never leave a run under the wrong workflow id
        task.workflow_id = run.workflow_id
        db.commit()
    summary = task_svc.task_summary(task)
    _refresh_run_status(db, schedule_id)
    return RunTask(task.id, task.owner_id, True, run_number, summary)


def record_run_error(db: Session, schedule_id: int, workflow_id: str, message: str) -> None:
    """A run that could not become a task (its team is gone, say) shows in the schedule's status."""
    current = db.execute(select(Resource.status).where(Resource.id == schedule_id)).first()
    if current is None:
        return
    status = dict(current[0] or {})
    status["lastError"] = {"at": iso_utc(datetime.now(UTC)), "workflowId": workflow_id, "message": message}
    _write_status(db, schedule_id, status)


def _refresh_run_status(db: Session, schedule_id: int) -> None:
    # A fresh read (not the identity map's copy): the API may have rewritten the status meanwhile.
    current = db.execute(select(Resource.status).where(Resource.id == schedule_id)).first()
    if current is None:
        return
    status = dict(current[0] or {})
    status.update(run_stats(db, schedule_id))
    _write_status(db, schedule_id, status)
