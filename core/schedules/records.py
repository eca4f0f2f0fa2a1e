"""Database helpers: run statistics, the stored status, and a snapshot of one schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import generations
from core.db.deadlocks import retrying_deadlocks
from core.db.models import Resource, Task
from core.schedules.names import ACTIVE_STATES, KIND, scheduled_time_of
from wegent.timestamps import iso_utc
from workflows.models import TaskState


def run_stats(db: Session, schedule_id: int) -> dict[str, Any]:
    """Counts of the runs (tasks) a schedule created, by outcome, and its latest run."""
    rows = db.execute(
        select(Task.state, func.count()).where(Task.schedule_id == schedule_id).group_by(Task.state)
    ).all()
    counts = {state: n for state, n in rows}
    last = db.scalar(select(Task).where(Task.schedule_id == schedule_id).order_by(Task.id.desc()).limit(1))
    return {
        "runs": {
            "total": sum(counts.values()),
            "succeeded": counts.get(TaskState.COMPLETED, 0),
            "failed": counts.get(TaskState.FAILED, 0),
            "cancelled": counts.get(TaskState.CANCELLED, 0),
            "active": sum(counts.get(s, 0) for s in ACTIVE_STATES),
        },
        "lastRun": None
        if last is None
        else {
            "taskId": last.id,
            "state": last.state,
            "scheduledTime": scheduled_time_of(last.workflow_id),
            "createdAt": iso_utc(last.created_at),
            "finishedAt": iso_utc(last.finished_at),
        },
    }


def _write_status(db: Session, schedule_id: int, status: dict[str, Any]) -> None:
    # A Core UPDATE: status is server-owned, so it bumps neither resourceVersion nor updatedTimestamp.
    db.execute(
        update(Resource)
        .where(Resource.id == schedule_id, Resource.kind == KIND)
        .values(status=status, updated_at=Resource.updated_at)
    )
    # Status shows in LISTs: move the owner's generation like any other resource change.
    generations.bump(db.connection(), select(Resource.owner_id).where(Resource.id == schedule_id).scalar_subquery())
    db.commit()


#: Fields a refresh sets to "now" on every look: a status that differs only in them is not a change worth a write.
_CHECK_TIME_FIELDS = ("syncedAt",)


def write_refreshed_status(db: Session, schedule_id: int, status: dict[str, Any]) -> dict[str, Any]:
    """Store a status composed from an earlier read, keeping what a worker recorded meanwhile; return it.

    A run refused by a worker (``lastError``, see run_tasks.record_run_error) may land between the API's read
    and this write; overwriting it would lose it for good, so it is merged in from the row, locked.

    Every GET and LIST of a schedule refreshes it, and a client polling one (the web app, a script) would
    otherwise lock and rewrite its row and move its owner's generation several times a second, racing the
    worker's writes and emptying the owner's LIST caches for nothing. A status that only says "checked again
    just now" is returned without a write.
    """
    stored = _stored(db, schedule_id, lock=False)
    unchanged = _merged(status, stored)
    if _same_but_check_time(unchanged, stored):
        db.rollback()  # end the read's snapshot: the session may be reused
        return unchanged

    def write() -> dict[str, Any]:
        merged = _merged(status, _stored(db, schedule_id, lock=True))
        _write_status(db, schedule_id, merged)
        return merged

    return retrying_deadlocks(db, write)


def _stored(db: Session, schedule_id: int, *, lock: bool) -> dict[str, Any]:
    query = select(Resource.status).where(Resource.id == schedule_id, Resource.kind == KIND)
    current = db.execute(query.with_for_update() if lock else query).first()
    return dict(current[0] or {}) if current is not None else {}


def _merged(status: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    return {**status, **({"lastError": stored["lastError"]} if "lastError" in stored else {})}


def _same_but_check_time(status: dict[str, Any], stored: dict[str, Any]) -> bool:
    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in _CHECK_TIME_FIELDS}

    return bool(stored) and strip(status) == strip(stored)


@dataclass
class Snapshot:
    id: int
    name: str
    namespace: str
    display_name: str | None
    owner_id: int
    owner: str
    spec: dict[str, Any]
    status: dict[str, Any]
    resource_version: int
    stats: dict[str, Any] = field(default_factory=dict)


def _snapshot(db: Session, schedule_id: int) -> Snapshot | None:
    row = db.get(Resource, schedule_id)
    if row is None or row.kind != KIND:
        return None
    return Snapshot(
        id=row.id,
        name=row.name,
        namespace=row.namespace,
        display_name=row.display_name,
        owner_id=row.owner_id,
        owner=row.owner.username,
        spec=dict(row.spec),
        status=dict(row.status or {}),
        resource_version=row.resource_version,
        stats=run_stats(db, row.id),
    )
