"""Converging the Temporal Schedule to the resource: create, update, pause, delete."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from core.db.session import in_session
from core.schedules.desired import Desired, desired_schedule
from core.schedules.names import HASH_MEMO, RPC_TIMEOUT, temporal_id
from core.schedules.records import _snapshot, write_refreshed_status
from core.schedules.status import compose_status
from wegent.config import get_settings
from wegent.logging import get_logger
from wegent.temporal.client import TemporalUnavailable, get_temporal
from wegent.timestamps import iso_utc

log = get_logger("schedules")


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND


def _short(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


async def _actual_hash(client: Client, desc: ScheduleDescription) -> str | None:
    action = desc.schedule.action
    memo = getattr(action, "memo", None) or {}
    payload = memo.get(HASH_MEMO)
    if payload is None:
        return None
    try:
        return (await client.data_converter.decode([payload], [str]))[0]
    except Exception:  # noqa: BLE001 - an unreadable memo is just drift
        return None


def _drift(desc: ScheduleDescription, desired: Desired, actual_hash: str | None) -> list[str]:
    found = []
    action = desc.schedule.action
    if actual_hash != desired.config_hash:
        found.append("config")
    if isinstance(action, ScheduleActionStartWorkflow) and action.task_queue != get_settings().task_queue:
        found.append("taskQueue")
    # A schedule that used up maxRuns takes no more actions, paused or not.
    if desc.schedule.state.paused != desired.paused and not desired.exhausted:
        found.append("paused" if desc.schedule.state.paused else "unpaused")
    return sorted(set(found))


@dataclass
class MirrorResult:
    schedule_id: int
    outcome: str  # created | updated | in-sync | deleted | absent | failed
    drift: list[str] = field(default_factory=list)
    error: str | None = None
    status: dict[str, Any] | None = None

    @property
    def warning(self) -> str | None:
        if self.error is None:
            return None
        return (
            f"saved, but the Temporal schedule {temporal_id(self.schedule_id)} was not updated: {self.error}; "
            "it is repaired at the next API start or the next write"
        )


async def mirror(schedule_id: int, reason: str = "write", client: Client | None = None) -> MirrorResult:
    """Converge the Temporal Schedule to the resource row (create, update, pause/unpause, or delete if the row is
    gone), then record the outcome in the row's status. Temporal failures are reported, never raised.

    `reason`: "write" (the spec just changed, so a config difference is expected, not drift), "action" (before a
    trigger/backfill) or "reconcile"; for the last two every difference found is drift, logged and recorded.
    """
    snap = await in_session(lambda db: _snapshot(db, schedule_id))
    if snap is None:
        return await remove(schedule_id, client=client)
    desired = desired_schedule(snap.id, snap.spec, snap.owner, snap.stats["runs"]["total"], get_settings())
    drift: list[str] = []
    try:
        client = client or await get_temporal()
        handle = client.get_schedule_handle(temporal_id(snap.id))
        desc = await _describe(handle)
        outcome = "in-sync"
        if desc is None:
            try:
                await client.create_schedule(
                    temporal_id(snap.id),
                    desired.schedule,
                    search_attributes=desired.search_attributes,
                    rpc_timeout=RPC_TIMEOUT,
                )
                outcome = "created"
                # Missing although it was mirrored before (or never mirrored, found by a reconcile): drift.
                if reason != "write" or "syncedVersion" in snap.status:
                    drift = ["missing"]
            except ScheduleAlreadyRunningError:  # another replica created it a moment ago: converge that one
                desc = await _describe(handle)
        if desc is not None:
            found = _drift(desc, desired, await _actual_hash(client, desc))
            if found:

                def updater(_: ScheduleUpdateInput) -> ScheduleUpdate:
                    return ScheduleUpdate(schedule=desired.schedule, search_attributes=desired.search_attributes)

                await handle.update(updater, rpc_timeout=RPC_TIMEOUT)
                outcome = "updated"
                drift = [] if reason == "write" else found
        desc = await _describe(handle)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - Temporal down or refusing: the row stays, the status says why
        error = _short(exc)
        log.warning("schedule.mirror_failed", schedule_id=schedule_id, reason=reason, error=error)
        status = compose_status(snap, None, synced=False, message=f"not mirrored to Temporal: {error}")
        status = await in_session(lambda db: write_refreshed_status(db, snap.id, status))
        return MirrorResult(snap.id, "failed", error=error, status=status)

    message = None
    if drift:
        message = f"drift repaired ({', '.join(drift)}) by {reason} at {iso_utc(datetime.now(UTC))}"
        log.warning(
            "schedule.drift_repaired",
            schedule_id=snap.id,
            temporal_schedule_id=temporal_id(snap.id),
            drift=drift,
            outcome=outcome,
            reason=reason,
        )
    status = compose_status(snap, desc, synced=True, message=message, drift=drift or None, repaired_by=reason)
    status = await in_session(lambda db: write_refreshed_status(db, snap.id, status))
    log.info("schedule.mirrored", schedule_id=snap.id, outcome=outcome, reason=reason, paused=desired.paused)
    return MirrorResult(snap.id, outcome, drift=drift, status=status)


async def _describe(handle: ScheduleHandle) -> ScheduleDescription | None:
    try:
        return await handle.describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as exc:
        if _is_not_found(exc):
            return None
        raise


async def remove(schedule_id: int, client: Client | None = None) -> MirrorResult:
    """Delete the Temporal Schedule of a deleted resource (already gone is fine)."""
    try:
        client = client or await get_temporal()
        await client.get_schedule_handle(temporal_id(schedule_id)).delete(rpc_timeout=RPC_TIMEOUT)
    except RPCError as exc:
        if _is_not_found(exc):
            return MirrorResult(schedule_id, "absent")
        log.warning("schedule.delete_failed", schedule_id=schedule_id, error=_short(exc))
        return MirrorResult(schedule_id, "failed", error=_short(exc))
    except (TemporalUnavailable, OSError, RuntimeError) as exc:
        log.warning("schedule.delete_failed", schedule_id=schedule_id, error=_short(exc))
        return MirrorResult(schedule_id, "failed", error=_short(exc))
    log.info("schedule.deleted", schedule_id=schedule_id, temporal_schedule_id=temporal_id(schedule_id))
    return MirrorResult(schedule_id, "deleted")


def deletion_report(result: MirrorResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scheduleId": temporal_id(result.schedule_id),
        "deleted": result.outcome in ("deleted", "absent"),
    }
    if result.error:
        body["error"] = result.error
        body["message"] = (
            f"the resource is deleted, but Temporal could not delete {temporal_id(result.schedule_id)}: "
            f"{result.error}; the next API start removes it, and its runs fail without creating tasks meanwhile"
        )
    return body
