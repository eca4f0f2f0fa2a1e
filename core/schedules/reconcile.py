"""Repairing drift between Schedule resources and Temporal Schedules (at API start-up)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
)
from temporalio.service import RPCError

from core.db.models import Resource
from core.db.session import in_session
from core.schedules.mirroring import _is_not_found, _short, mirror
from core.schedules.names import KIND, RPC_TIMEOUT, temporal_id
from wegent.config import get_settings
from wegent.logging import get_logger
from wegent.temporal.client import get_temporal

log = get_logger("schedules")


@dataclass
class ReconcileReport:
    checked: int = 0
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "created": self.created,
            "updated": self.updated,
            "orphansDeleted": self.orphans_deleted,
            "failed": {str(k): v for k, v in self.failed.items()},
        }


async def reconcile_all(client: Client | None = None) -> ReconcileReport:
    """Converge every Schedule resource to Temporal and delete `schedule-{id}` schedules whose resource is gone.

    Temporal is listed before the database is read, so a schedule created in between always has its row.
    Orphans are only deleted when they start work on our task queue (another deployment's are left alone).
    """
    client = client or await get_temporal()
    report = ReconcileReport()
    listed: list[str] = []
    async for entry in await client.list_schedules(rpc_timeout=RPC_TIMEOUT):
        if re.fullmatch(r"schedule-\d+", entry.id):
            listed.append(entry.id)
    ids = await in_session(lambda db: list(db.scalars(select(Resource.id).where(Resource.kind == KIND))))
    for schedule_id in ids:
        result = await mirror(schedule_id, reason="reconcile", client=client)
        report.checked += 1
        if result.outcome == "failed":
            report.failed[schedule_id] = result.error or "unknown error"
        elif result.outcome == "created":
            report.created.append(schedule_id)
        elif result.outcome == "updated":
            report.updated.append(schedule_id)
    known = {temporal_id(i) for i in ids}
    for orphan in sorted(set(listed) - known):
        try:
            desc = await client.get_schedule_handle(orphan).describe(rpc_timeout=RPC_TIMEOUT)
            action = desc.schedule.action
            if not isinstance(action, ScheduleActionStartWorkflow) or action.task_queue != get_settings().task_queue:
                continue
            # Re-check: a resource may have been created since the list above.
            still_gone = await in_session(lambda db, o=orphan: db.get(Resource, int(o.split("-")[1])) is None)
            if not still_gone:
                continue
            await client.get_schedule_handle(orphan).delete(rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if not _is_not_found(exc):
                log.warning("schedule.orphan_delete_failed", temporal_schedule_id=orphan, error=_short(exc))
            continue
        report.orphans_deleted.append(orphan)
        log.warning("schedule.drift_repaired", temporal_schedule_id=orphan, drift=["orphan"], outcome="deleted")
    log.info("schedules.reconciled", **report.as_dict())
    return report


async def reconcile_at_startup(max_delay: float = 60.0, max_partial_passes: int = 10) -> None:
    """Reconcile once Temporal answers, retrying with backoff while it does not (and, a bounded number of times,
    while some schedules fail to converge). Never raises: the API serves regardless."""
    delay, partial = 1.0, 0
    while True:
        try:
            report = await reconcile_all()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Temporal down (or anything else) must not break the API
            log.warning("schedules.reconcile_deferred", error=_short(exc), retry_in_seconds=delay)
        else:
            partial += 1
            if not report.failed or partial >= max_partial_passes:
                return
            log.warning("schedules.reconcile_incomplete", failed=sorted(report.failed), retry_in_seconds=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
