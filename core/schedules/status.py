"""The status shown on a Schedule: the stored row, its runs and the Temporal mirror combined."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import (
    ScheduleDescription,
)

from core.schedules.desired import _end_at
from core.schedules.names import NEXT_RUNS_SHOWN, console_url, temporal_id
from core.schedules.records import Snapshot
from wegent.timestamps import iso_utc


def compose_status(
    snap: Snapshot,
    desc: ScheduleDescription | None,
    *,
    synced: bool | None,
    message: str | None = None,
    drift: list[str] | None = None,
    repaired_by: str | None = None,
) -> dict[str, Any]:
    """The resource's status from Temporal's description (None when unknown) and the tasks table.

    `synced`: True = Temporal matches the spec, False = it does not (message says why), None = not checked
    (Temporal unreachable: the last known Temporal fields are kept).
    """
    prev = snap.status
    spec = snap.spec
    tz = ZoneInfo(spec.get("timezone", "UTC"))
    status: dict[str, Any] = {
        "temporalScheduleId": temporal_id(snap.id),
        "consoleUrl": console_url(snap.id),
        **snap.stats,
    }
    for kept in ("lastDrift", "lastError", "temporal", "nextRunTimes", "paused", "syncedVersion", "syncedAt"):
        if kept in prev:
            status[kept] = prev[kept]
    if desc is not None:
        info, state = desc.info, desc.schedule.state
        status["paused"] = state.paused
        status["nextRunTimes"] = (
            [] if state.paused else [t.astimezone(tz).isoformat() for t in info.next_action_times[:NEXT_RUNS_SHOWN]]
        )
        status["temporal"] = {
            "actions": info.num_actions,
            "skippedOverlap": info.num_actions_skipped_overlap,
            "missedCatchupWindow": info.num_actions_missed_catchup_window,
            "running": [getattr(r, "workflow_id", "") for r in info.running_actions],
            "lastActionAt": iso_utc(info.recent_actions[-1].scheduled_at) if info.recent_actions else None,
            "remainingActions": state.remaining_actions if state.limited_actions else None,
            "note": state.note,
        }
    if synced is not None:
        status["synced"] = synced
    elif "synced" in prev:
        status["synced"] = prev["synced"]
    if synced:
        status["syncedVersion"] = snap.resource_version
        status["syncedAt"] = iso_utc(datetime.now(UTC))
    if drift:
        status["lastDrift"] = {"at": iso_utc(datetime.now(UTC)), "drift": drift, "repairedBy": repaired_by}

    end_at = _end_at(spec)
    max_runs = spec.get("maxRuns")
    if status.get("synced") is False:
        state_name = "NotSynced"
    elif not spec.get("enabled", True):
        state_name = "Paused"
    elif (max_runs and snap.stats["runs"]["total"] >= max_runs) or (end_at and end_at < datetime.now(UTC)):
        state_name = "Completed"
    else:
        state_name = "Active"
    status["state"] = state_name
    if message is None:
        message = {
            "Paused": "paused (spec.enabled is false)",
            "Completed": "finished: " + ("maxRuns reached" if max_runs else "past endAt"),
            "Active": "runs on "
            + (f"cron '{spec['cron']}'" if spec.get("cron") else f"every {spec.get('interval')}")
            + f" ({spec.get('timezone', 'UTC')})",
            "NotSynced": prev.get("message") or "not mirrored to Temporal",
        }[state_name]
    status["message"] = message
    return status
