"""Schedules: Schedule resources mirrored to Temporal Schedules, and the tasks their runs create.

The database row is the source of truth; Temporal holds a mirror named `schedule-{id}` (id = the resource row id)
whose action starts `TaskWorkflow` with `TaskInput(task_id=0, schedule_id=id)`. Every write commits to the
database first and then converges Temporal (create, update, pause, delete); a reconcile pass at API start-up
repairs whatever drifted in between (a Temporal outage, a schedule deleted or paused in the console) and records
the repair in the logs and in the resource's status.

A run becomes an ordinary task in `create_run_task` (called by the `create_scheduled_task` activity): its prompt
is rendered from the run's *scheduled* time in the schedule's time zone, so a retried or late run renders the
same text as an on-time one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.client import ScheduleSpec as TemporalScheduleSpec
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from api.db import generations
from api.db.models import Resource, Task, User
from api.db.session import get_sessionmaker
from api.services import tasks as task_svc
from api.services.resource_store import StoreError
from api.temporal import TemporalUnavailable, get_temporal
from wegent.config import Settings, get_settings
from wegent.logging import get_logger
from wegent.resources import FieldError, parse_interval
from workflows import search_attributes as sa
from workflows.models import ScheduledRun, TaskInput, TaskState

if TYPE_CHECKING:
    from api.services.apply import ApplyReport
    from api.services.resource_store import ResourceStore

log = get_logger("schedules")
T = TypeVar("T")

KIND = "Schedule"
WORKFLOW = "TaskWorkflow"
SCHEDULE_LABEL = "wegent.io/schedule"
HASH_MEMO = "wegentConfigHash"
RPC_TIMEOUT = timedelta(seconds=10)
MAX_BACKFILL_RUNS = 100
NEXT_RUNS_SHOWN = 5

OVERLAP: dict[str, ScheduleOverlapPolicy] = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
    "cancel_previous": ScheduleOverlapPolicy.CANCEL_OTHER,
}
# Temporal reads a 6-field cron as "... year" and a 7-field one as "seconds ... year", croniter reads the sixth
# field as seconds: only the unambiguous forms are accepted.
CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
ACTIVE_STATES = (TaskState.PENDING, TaskState.RUNNING, TaskState.PENDING_CONFIRMATION, TaskState.CANCELLING)


# ---- names and links ---------------------------------------------------------------------------------------


def temporal_id(schedule_id: int) -> str:
    return f"schedule-{schedule_id}"


def run_workflow_prefix(schedule_id: int) -> str:
    """Temporal appends `-{scheduled time}` to this for every run it starts."""
    return f"schedule-{schedule_id}-run"


def console_url(schedule_id: int, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    ui = settings.temporal_ui_url.rstrip("/")
    return f"{ui}/namespaces/{settings.temporal_namespace}/schedules/{temporal_id(schedule_id)}"


def scheduled_time_of(workflow_id: str | None) -> str | None:
    """The nominal time Temporal put in a run's workflow id (`schedule-5-run-2024-05-06T01:00:00Z`)."""
    if not workflow_id:
        return None
    match = re.search(r"-run-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$", workflow_id)
    return match.group(1) if match else None


# ---- prompt templates (pure) -------------------------------------------------------------------------------

PLACEHOLDERS = ("date", "time", "datetime", "yesterday", "schedule", "run_number")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_prompt(template: str, scheduled_at: datetime, timezone: str, schedule: str, run_number: int) -> str:
    """Fill a prompt template from the run's scheduled time, seen in the schedule's time zone.

    `{{date}}` 2024-05-06, `{{time}}` 09:00:00, `{{datetime}}` 2024-05-06T09:00:00+08:00, `{{yesterday}}`
    2024-05-05, `{{schedule}}` the schedule's display name (else its name), `{{run_number}}` 1 for the first run.
    A naive `scheduled_at` is taken as UTC. Unknown placeholders are left as written (writes reject them).
    """
    if scheduled_at.tzinfo is None:
        scheduled_at = scheduled_at.replace(tzinfo=UTC)
    local = scheduled_at.astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    values = {
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M:%S"),
        "datetime": local.isoformat(),
        "yesterday": (local.date() - timedelta(days=1)).isoformat(),
        "schedule": schedule,
        "run_number": str(run_number),
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def unknown_placeholders(template: str) -> list[str]:
    return sorted({m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) not in PLACEHOLDERS})


# ---- validation beyond the spec schema (pure) --------------------------------------------------------------


def spec_errors(kind: str, spec: dict[str, Any]) -> list[FieldError]:
    """What a Schedule needs on top of its schema to be mirrored faithfully; checked before any commit."""
    if kind != KIND:
        return []
    errors: list[FieldError] = []
    cron = spec.get("cron")
    if cron is not None:
        text = cron.strip()
        if text.startswith("@"):
            if text not in CRON_MACROS:
                errors.append(
                    FieldError(
                        field="spec.cron", message=f"unsupported macro {text!r}; use one of {sorted(CRON_MACROS)}"
                    )
                )
        elif len(text.split()) != 5:
            errors.append(
                FieldError(
                    field="spec.cron",
                    message="use a 5-field cron expression (minute hour day-of-month month day-of-week)",
                )
            )
    unknown = unknown_placeholders(spec.get("promptTemplate", ""))
    if unknown:
        errors.append(
            FieldError(
                field="spec.promptTemplate",
                message=f"unknown placeholder(s) {', '.join('{{' + u + '}}' for u in unknown)}; "
                f"known: {', '.join('{{' + p + '}}' for p in PLACEHOLDERS)}",
            )
        )
    return errors


# ---- the desired Temporal Schedule (pure) ------------------------------------------------------------------


@dataclass
class Desired:
    schedule: Schedule
    search_attributes: TypedSearchAttributes
    config_hash: str
    paused: bool
    exhausted: bool


def _end_at(spec: dict[str, Any]) -> datetime | None:
    raw = spec.get("endAt")
    if not raw:
        return None
    value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    if value.tzinfo is None:  # a wall-clock time in the schedule's own zone
        value = value.replace(tzinfo=ZoneInfo(spec.get("timezone", "UTC")))
    return value.astimezone(UTC)


def task_input(schedule_id: int) -> TaskInput:
    """The workflow input of a run: what an ordinary task's workflow gets from the settings (idle times,
    heartbeats, history limit), with no task yet (`task_id=0`) and the schedule's id."""
    return replace(task_svc.task_input(Task(id=0)), task_id=0, schedule_id=schedule_id)


def desired_schedule(
    schedule_id: int, spec: dict[str, Any], owner: str, runs_so_far: int, settings: Settings
) -> Desired:
    """The Temporal Schedule a Schedule resource stands for. `runs_so_far` only matters with `maxRuns`."""
    tz = spec.get("timezone", "UTC")
    team = spec["teamRef"]
    end_at = _end_at(spec)
    catchup = parse_interval(spec["catchupWindow"]) if spec.get("catchupWindow") else None
    overlap = spec.get("overlap", "skip")
    payload = task_input(schedule_id)
    action_attributes = TypedSearchAttributes(
        [
            SearchAttributePair(sa.SCHEDULE_ID, schedule_id),
            SearchAttributePair(sa.USER, owner),
            SearchAttributePair(sa.TEAM, f"{team.get('namespace', 'default')}/{team['name']}"),
            SearchAttributePair(sa.STATE, TaskState.PENDING),
        ]
    )
    config = {
        "v": 1,
        "cron": spec.get("cron"),
        "interval": spec.get("interval"),
        "timezone": tz,
        "endAt": end_at.isoformat() if end_at else None,
        "catchupWindow": catchup,
        "overlap": overlap,
        "maxRuns": spec.get("maxRuns"),
        "workflow": WORKFLOW,
        "workflowId": run_workflow_prefix(schedule_id),
        "taskQueue": settings.task_queue,
        "input": asdict(payload),
        "owner": owner,
        "team": f"{team.get('namespace', 'default')}/{team['name']}",
    }
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:20]

    remaining = 0
    exhausted = False
    if spec.get("maxRuns"):
        remaining = max(int(spec["maxRuns"]) - runs_so_far, 0)
        exhausted = remaining == 0
    paused = not spec.get("enabled", True) or exhausted
    note = None
    if not spec.get("enabled", True):
        note = "paused in Wegent (spec.enabled is false)"
    elif exhausted:
        note = f"finished: maxRuns ({spec['maxRuns']}) reached"

    if spec.get("cron"):
        temporal_spec = TemporalScheduleSpec(cron_expressions=[spec["cron"].strip()], time_zone_name=tz, end_at=end_at)
    else:
        every = timedelta(seconds=parse_interval(spec["interval"]))
        temporal_spec = TemporalScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=every)], time_zone_name=tz, end_at=end_at
        )
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW,
            payload,
            id=run_workflow_prefix(schedule_id),
            task_queue=settings.task_queue,
            typed_search_attributes=action_attributes,
            memo={HASH_MEMO: config_hash},
        ),
        spec=temporal_spec,
        policy=SchedulePolicy(
            overlap=OVERLAP[overlap],
            catchup_window=timedelta(seconds=catchup) if catchup else None,
        ),
        # Temporal wants limited_actions off when nothing remains: a finished schedule is paused instead.
        state=ScheduleState(note=note, paused=paused, limited_actions=remaining > 0, remaining_actions=remaining),
    )
    schedule_attributes = TypedSearchAttributes(
        [SearchAttributePair(sa.SCHEDULE_ID, schedule_id), SearchAttributePair(sa.USER, owner)]
    )
    return Desired(schedule, schedule_attributes, config_hash, paused, exhausted)


def backfill_times(spec: dict[str, Any], start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The nominal times a backfill over [start, end] starts runs for (both ends included, as Temporal does);
    at most `limit` + 1 of them, so callers can tell "too many"."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    times: list[datetime] = []
    if spec.get("interval"):
        every = parse_interval(spec["interval"])
        t = math.ceil(start.timestamp() / every) * every
        while t <= end.timestamp() and len(times) <= limit:
            times.append(datetime.fromtimestamp(t, UTC))
            t += every
        return times
    tz = ZoneInfo(spec.get("timezone", "UTC"))
    it = croniter(spec["cron"].strip(), start.astimezone(tz) - timedelta(seconds=1))
    while len(times) <= limit:
        nxt = it.get_next(datetime).astimezone(UTC)
        if nxt > end:
            break
        if nxt >= start:
            times.append(nxt)
    return times


# ---- database helpers --------------------------------------------------------------------------------------


async def _db(fn: Callable[[Session], T]) -> T:
    def run() -> T:
        with get_sessionmaker()() as session:
            return fn(session)

    return await asyncio.to_thread(run)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
            "createdAt": _iso(last.created_at),
            "finishedAt": _iso(last.finished_at),
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


# ---- status ------------------------------------------------------------------------------------------------


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
            "lastActionAt": _iso(info.recent_actions[-1].scheduled_at) if info.recent_actions else None,
            "remainingActions": state.remaining_actions if state.limited_actions else None,
            "note": state.note,
        }
    if synced is not None:
        status["synced"] = synced
    elif "synced" in prev:
        status["synced"] = prev["synced"]
    if synced:
        status["syncedVersion"] = snap.resource_version
        status["syncedAt"] = _iso(datetime.now(UTC))
    if drift:
        status["lastDrift"] = {"at": _iso(datetime.now(UTC)), "drift": drift, "repairedBy": repaired_by}

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


# ---- mirroring ---------------------------------------------------------------------------------------------


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
    snap = await _db(lambda db: _snapshot(db, schedule_id))
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
        await _db(lambda db: _write_status(db, snap.id, status))
        return MirrorResult(snap.id, "failed", error=error, status=status)

    message = None
    if drift:
        message = f"drift repaired ({', '.join(drift)}) by {reason} at {_iso(datetime.now(UTC))}"
        log.warning(
            "schedule.drift_repaired",
            schedule_id=snap.id,
            temporal_schedule_id=temporal_id(snap.id),
            drift=drift,
            outcome=outcome,
            reason=reason,
        )
    status = compose_status(snap, desc, synced=True, message=message, drift=drift or None, repaired_by=reason)
    await _db(lambda db: _write_status(db, snap.id, status))
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


# ---- hooks for the resource API ----------------------------------------------------------------------------


def _row_id(db: Session, owner_id: int, namespace: str, name: str) -> int | None:
    return db.scalar(
        select(Resource.id).where(
            Resource.owner_id == owner_id, Resource.kind == KIND, Resource.namespace == namespace, Resource.name == name
        )
    )


async def after_write(schedule_id: int) -> MirrorResult:
    """Call after a Schedule resource's create/update was committed."""
    return await mirror(schedule_id, reason="write")


async def after_delete(schedule_id: int) -> dict[str, Any]:
    """Call after a Schedule resource's deletion was committed; the response's `temporal` field."""
    return deletion_report(await remove(schedule_id))


async def after_apply(store: ResourceStore, report: ApplyReport, public: bool) -> None:
    """Mirror every Schedule of a committed apply; a Temporal failure becomes that document's `detail`."""
    owner_id = store.owner_for(public)
    for result in report.results:
        if result.kind != KIND or result.result not in ("created", "updated", "unchanged"):
            continue
        ns, name = result.namespace or "default", result.name or ""
        schedule_id = await _db(lambda db, ns=ns, name=name: _row_id(db, owner_id, ns, name))
        if schedule_id is None:
            continue
        outcome = await mirror(schedule_id, reason="write")
        if outcome.warning:
            result.detail = outcome.warning


# ---- reconcile ---------------------------------------------------------------------------------------------


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
    ids = await _db(lambda db: list(db.scalars(select(Resource.id).where(Resource.kind == KIND))))
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
            still_gone = await _db(lambda db, o=orphan: db.get(Resource, int(o.split("-")[1])) is None)
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


# ---- runs: the activity's side (worker) --------------------------------------------------------------------


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
    status["lastError"] = {"at": _iso(datetime.now(UTC)), "workflowId": workflow_id, "message": message}
    _write_status(db, schedule_id, status)


def _refresh_run_status(db: Session, schedule_id: int) -> None:
    # A fresh read (not the identity map's copy): the API may have rewritten the status meanwhile.
    current = db.execute(select(Resource.status).where(Resource.id == schedule_id)).first()
    if current is None:
        return
    status = dict(current[0] or {})
    status.update(run_stats(db, schedule_id))
    _write_status(db, schedule_id, status)


# ---- the schedules API -------------------------------------------------------------------------------------


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

    return await _db(load)


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
    await _db(lambda db: _write_status(db, snap.id, status))
    snap.status = status
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

    snaps, total = await _db(load)
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

    await _db(write)
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
    log.info("schedule.backfilled", schedule_id=snap.id, start=_iso(start), end=_iso(end), runs=len(times))
    return {
        **view(snap),
        "backfill": {"start": _iso(start), "end": _iso(end), "expectedRuns": [_iso(t) for t in times]},
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

    return await _db(load)


async def delete(user: User, schedule_id: int) -> dict[str, Any]:
    def drop(db: Session) -> dict[str, Any]:
        row = scoped_schedule(db, user, schedule_id)
        ident = {"kind": KIND, "namespace": row.namespace, "name": row.name}
        db.delete(row)
        db.commit()
        return ident

    ident = await _db(drop)
    return {"deleted": ident, "temporal": await after_delete(schedule_id)}
