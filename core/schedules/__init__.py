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

from core.schedules.desired import Desired, backfill_times, desired_schedule, task_input
from core.schedules.hooks import after_apply, after_delete, after_write
from core.schedules.mirroring import MirrorResult, deletion_report, mirror, remove
from core.schedules.names import (
    ACTIVE_STATES,
    CRON_MACROS,
    HASH_MEMO,
    KIND,
    MAX_BACKFILL_RUNS,
    NEXT_RUNS_SHOWN,
    OVERLAP,
    RPC_TIMEOUT,
    SCHEDULE_LABEL,
    WORKFLOW,
    console_url,
    run_workflow_prefix,
    scheduled_time_of,
    temporal_id,
)
from core.schedules.operations import (
    backfill,
    delete,
    get_schedule,
    list_schedules,
    refresh,
    runs,
    scoped_schedule,
    set_enabled,
    trigger,
    view,
)
from core.schedules.reconcile import ReconcileReport, reconcile_all, reconcile_at_startup
from core.schedules.records import Snapshot, _write_status, run_stats
from core.schedules.run_tasks import RunTask, ScheduleGone, create_run_task, record_run_error
from core.schedules.status import compose_status
from core.schedules.template import PLACEHOLDERS, render_prompt, unknown_placeholders
from core.schedules.validation import spec_errors

__all__ = [
    "ACTIVE_STATES",
    "CRON_MACROS",
    "Desired",
    "HASH_MEMO",
    "KIND",
    "MAX_BACKFILL_RUNS",
    "MirrorResult",
    "NEXT_RUNS_SHOWN",
    "OVERLAP",
    "PLACEHOLDERS",
    "RPC_TIMEOUT",
    "ReconcileReport",
    "RunTask",
    "SCHEDULE_LABEL",
    "ScheduleGone",
    "Snapshot",
    "WORKFLOW",
    "_write_status",
    "after_apply",
    "after_delete",
    "after_write",
    "backfill",
    "backfill_times",
    "compose_status",
    "console_url",
    "create_run_task",
    "delete",
    "deletion_report",
    "desired_schedule",
    "get_schedule",
    "list_schedules",
    "mirror",
    "reconcile_all",
    "reconcile_at_startup",
    "record_run_error",
    "refresh",
    "remove",
    "render_prompt",
    "run_stats",
    "run_workflow_prefix",
    "runs",
    "scheduled_time_of",
    "scoped_schedule",
    "set_enabled",
    "spec_errors",
    "task_input",
    "temporal_id",
    "trigger",
    "unknown_placeholders",
    "view",
]
