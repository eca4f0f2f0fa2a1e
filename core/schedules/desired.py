"""The Temporal Schedule a Schedule resource stands for (pure), and the times a backfill covers."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    SchedulePolicy,
    ScheduleState,
)
from temporalio.client import ScheduleSpec as TemporalScheduleSpec
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from core import tasks as task_svc
from core.db.models import Task
from core.schedules.names import HASH_MEMO, OVERLAP, WORKFLOW, run_workflow_prefix
from wegent.config import Settings
from wegent.resources import parse_interval
from wegent.temporal import search_attributes as sa
from workflows.models import TaskInput, TaskState


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
