"""The schedules API: list, get, pause/resume, trigger, backfill, runs, delete."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from temporalio.client import (
    Client,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
)
from temporalio.service import RPCError

from core import tasks as task_svc
from core.db.models import Resource, Task, User
from core.db.session import in_session
from core.resource_store import StoreError
from core.schedules.desired import backfill_times, desired_schedule
from core.schedules.hooks import after_delete
from core.schedules.mirroring import _actual_hash, _describe, _drift, _short, mirror
from core.schedules.names import (
    KIND,
    MAX_BACKFILL_RUNS,
    OVERLAP,
    RPC_TIMEOUT,
    console_url,
    scheduled_time_of,
    temporal_id,
)
from core.schedules.records import Snapshot, _snapshot, run_stats, write_refreshed_status
from core.schedules.status import compose_status
from wegent.config import get_settings
from wegent.logging import get_logger
from wegent.resources import FieldError
from wegent.temporal.client import TemporalUnavailable, get_temporal
from wegent.timestamps import iso_utc

log = get_logger("schedules")


def scoped_schedule(db: Session, user: User, schedule_id: int) -> Resource:
    row = db.get(Resource, schedule_id)
    if row is None or row.kind != KIND or (row.owner_id != user.id and not user.is_admin):
        raise StoreError(404, f"schedule {schedule_id} not found")
    return row


async def _scoped(user: User, schedule_id: int) -> Snapshot:
    def load(db: Session) -> Snapshot:
        scoped_schedule(db, user, schedule_id)
        snap = _snapshot(db, schedule_id)
        assert snap is not None
        return snap

    return await in_session(load)


def view(snap: Snapshot) -> dict[str, Any]:
    spec = snap.spec
    return {
        "id": snap.id,
        "name": snap.name,
        "namespace": snap.namespace,
        "displayName": snap.display_name,
        "owner": snap.owner,
        "team": spec["teamRef"],
        "workspace": spec.get("workspaceRef"),
        "enabled": spec.get("enabled", True),
        "trigger": {"cron": spec["cron"]} if spec.get("cron") else {"interval": spec.get("interval")},
        "timezone": spec.get("timezone", "UTC"),
        "overlap": spec.get("overlap", "skip"),
        "temporalScheduleId": temporal_id(snap.id),
        "consoleUrl": console_url(snap.id),
        "resourceVersion": str(snap.resource_version),
        "spec": spec,
        "status": snap.status,
    }


async def refresh(snap: Snapshot, client: Client | None = None) -> Snapshot:
    """Re-read Temporal's description and the tasks table into the status; never changes Temporal."""
    try:
        client = client or await get_temporal()
        desc = await _describe(client.get_schedule_handle(temporal_id(snap.id)))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreachable: show the last known status, say so
        snap.status = compose_status(snap, None, synced=None, message=f"Temporal unavailable: {_short(exc)}")
        return snap
    if desc is None:
        status = compose_status(
            snap,
            None,
            synced=False,
            message=f"the Temporal schedule {temporal_id(snap.id)} is missing (drift); the next write, "
            "reconcile or API start recreates it",
        )
    else:
        desired = desired_schedule(snap.id, snap.spec, snap.owner, snap.stats["runs"]["total"], get_settings())
        found = _drift(desc, desired, await _actual_hash(client, desc))
        message = f"the Temporal schedule differs from the spec ({', '.join(found)}): drift" if found else None
        status = compose_status(snap, desc, synced=not found, message=message)
    snap.status = await in_session(lambda db: write_refreshed_status(db, snap.id, status))
    return snap


async def list_schedules(user: User, everyone: bool, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    def load(db: Session) -> tuple[list[Snapshot], int]:
        query = select(Resource.id).where(Resource.kind == KIND)
        if not (everyone and user.is_admin):
            query = query.where(Resource.owner_id == user.id)
        total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
        ids = list(db.scalars(query.order_by(Resource.namespace, Resource.name).limit(limit).offset(offset)))
        snaps = [s for s in (_snapshot(db, i) for i in ids) if s is not None]
        return snaps, total

    snaps, total = await in_session(load)
    try:
        client: Client | None = await get_temporal()
    except TemporalUnavailable:
        client = None
    if client is not None:
        snaps = list(await asyncio.gather(*(refresh(s, client) for s in snaps)))
    else:
        for s in snaps:
            s.status = compose_status(
                s, None, synced=None, message="Temporal unavailable: showing the last known status"
            )
    return [view(s) for s in snaps], total


async def get_schedule(user: User, schedule_id: int) -> dict[str, Any]:
    return view(await refresh(await _scoped(user, schedule_id)))


async def _converged(user: User, schedule_id: int) -> tuple[Snapshot, Client]:
    """Scope check, then make sure Temporal mirrors the row before acting on it (503 if it cannot)."""
    await _scoped(user, schedule_id)
    result = await mirror(schedule_id, reason="action")
    if result.outcome == "failed":
        raise StoreError(503, f"Temporal is unavailable: {result.error}")
    return await _scoped(user, schedule_id), await get_temporal()


async def set_enabled(user: User, schedule_id: int, enabled: bool) -> dict[str, Any]:
    """Pause/resume: written to spec.enabled first (the source of truth), then mirrored."""

    def write(db: Session) -> None:
        row = scoped_schedule(db, user, schedule_id)
        if row.spec.get("enabled", True) != enabled:
            row.spec = {**row.spec, "enabled": enabled}
            db.commit()

    await in_session(write)
    result = await mirror(schedule_id, reason="write")
    snap = await _scoped(user, schedule_id)
    out = view(snap)
    if result.warning:
        out["warning"] = result.warning
    log.info("schedule.enabled_set", schedule_id=schedule_id, enabled=enabled, by=user.username)
    return out


def _overlap(value: str | None, field_name: str) -> ScheduleOverlapPolicy | None:
    if value is None:
        return None
    if value not in OVERLAP:
        raise StoreError(
            422, "invalid overlap policy", [FieldError(field=field_name, message=f"expected one of {sorted(OVERLAP)}")]
        )
    return OVERLAP[value]


async def trigger(user: User, schedule_id: int, overlap: str | None = None) -> dict[str, Any]:
    policy = _overlap(overlap, "overlap")
    snap, client = await _converged(user, schedule_id)
    try:
        await client.get_schedule_handle(temporal_id(snap.id)).trigger(overlap=policy, rpc_timeout=RPC_TIMEOUT)
    except RPCError as exc:
        raise StoreError(503, f"Temporal refused the trigger: {_short(exc)}") from exc
    log.info("schedule.triggered", schedule_id=snap.id, by=user.username, overlap=overlap)
    return {**view(snap), "triggered": True}


async def backfill(
    user: User, schedule_id: int, start: datetime, end: datetime, overlap: str | None = None
) -> dict[str, Any]:
    if start.tzinfo is None or end.tzinfo is None:
        raise StoreError(
            422,
            "backfill times need a time zone",
            [FieldError(field="start" if start.tzinfo is None else "end", message="give an offset, e.g. 'Z'")],
        )
    if end <= start:
        raise StoreError(422, "invalid backfill window", [FieldError(field="end", message="must be after start")])
    if end > datetime.now(UTC) + timedelta(seconds=1):
        raise StoreError(422, "invalid backfill window", [FieldError(field="end", message="must not be in the future")])
    policy = _overlap(overlap or "buffer_all", "overlap")
    snap = await _scoped(user, schedule_id)
    times = backfill_times(snap.spec, start, end, MAX_BACKFILL_RUNS)
    if len(times) > MAX_BACKFILL_RUNS:
        raise StoreError(
            422,
            "backfill window too large",
            [FieldError(field="end", message=f"more than {MAX_BACKFILL_RUNS} runs; backfill in smaller windows")],
        )
    snap, client = await _converged(user, schedule_id)
    try:
        await client.get_schedule_handle(temporal_id(snap.id)).backfill(
            ScheduleBackfill(start_at=start.astimezone(UTC), end_at=end.astimezone(UTC), overlap=policy),
            rpc_timeout=RPC_TIMEOUT,
        )
    except RPCError as exc:
        raise StoreError(503, f"Temporal refused the backfill: {_short(exc)}") from exc
    log.info("schedule.backfilled", schedule_id=snap.id, start=iso_utc(start), end=iso_utc(end), runs=len(times))
    return {
        **view(snap),
        "backfill": {"start": iso_utc(start), "end": iso_utc(end), "expectedRuns": [iso_utc(t) for t in times]},
    }


async def runs(user: User, schedule_id: int, state: str | None, limit: int, offset: int) -> dict[str, Any]:
    def load(db: Session) -> dict[str, Any]:
        row = scoped_schedule(db, user, schedule_id)
        query = select(Task).where(Task.schedule_id == row.id)
        if state:
            query = query.where(Task.state == state.upper())
        total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
        tasks = db.scalars(query.order_by(Task.id.desc()).limit(limit).offset(offset))
        items = [{**task_svc.task_summary(t), "scheduledTime": scheduled_time_of(t.workflow_id)} for t in tasks]
        return {
            "schedule": {"id": row.id, "name": row.name, "namespace": row.namespace, "consoleUrl": console_url(row.id)},
            "items": items,
            "total": total,
            "limit": limit,
            "offset": offset,
            **run_stats(db, row.id),
        }

    return await in_session(load)


async def delete(user: User, schedule_id: int) -> dict[str, Any]:
    def drop(db: Session) -> dict[str, Any]:
        row = scoped_schedule(db, user, schedule_id)
        ident = {"kind": KIND, "namespace": row.namespace, "name": row.name}
        db.delete(row)
        db.commit()
        return ident

    ident = await in_session(drop)
    return {"deleted": ident, "temporal": await after_delete(schedule_id)}
