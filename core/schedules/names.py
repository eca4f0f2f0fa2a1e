"""Names, links and constants shared by the schedules modules."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TypeVar

from temporalio.client import (
    ScheduleOverlapPolicy,
)

from wegent.config import Settings, get_settings
from workflows.models import TaskState

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
