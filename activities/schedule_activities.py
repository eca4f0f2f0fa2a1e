"""The activity that turns a Temporal Schedule's run into an ordinary Wegent task (shared `wegent-tasks` queue).

`TaskWorkflow` started by a schedule has no task yet: it calls `create_scheduled_task` first, which renders the
schedule's prompt template for the run's scheduled time and stores the task with its first message. A retried
activity finds the task it already created by the workflow id, so a run never yields two tasks.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.context import WorkerContext
from core.resource_store import StoreError
from core.schedules import RunTask, ScheduleGone, create_run_task, record_run_error, temporal_id
from wegent.logging import get_logger
from wegent.realtime_payloads import TaskCreated
from workflows import activity_names
from workflows.models import ScheduledRun

log = get_logger("activities.schedules")


class ScheduleActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=activity_names.CREATE_SCHEDULED_TASK)
    async def create_scheduled_task(self, run: ScheduledRun) -> int:
        # Without a scheduled time (should not happen) the first attempt's time stands in: the same on retries.
        fallback = activity.info().scheduled_time
        try:
            result: RunTask = await self.ctx.db(lambda db: create_run_task(db, run, fallback))
        except ScheduleGone as exc:
            await self._drop_orphan(run.schedule_id)
            raise ApplicationError(str(exc), type="ScheduleDeleted", non_retryable=True) from exc
        except StoreError as exc:
            reasons = "; ".join(f"{e.field}: {e.message}" for e in exc.errors) or exc.detail
            message = f"schedule {run.schedule_id} cannot start a task: {reasons}"
            log.warning("schedule.run_refused", schedule_id=run.schedule_id, workflow_id=run.workflow_id, error=message)
            await self.ctx.db(lambda db: record_run_error(db, run.schedule_id, run.workflow_id, message))
            raise ApplicationError(message, type="InvalidSchedule", non_retryable=True) from exc
        log.info(
            "schedule.run_task",
            schedule_id=run.schedule_id,
            task_id=result.task_id,
            workflow_id=run.workflow_id,
            scheduled_time=run.scheduled_time,
            created=result.created,
            run_number=result.run_number or None,
        )
        if result.created:
            await self.ctx.relay.publish_user(result.owner_id, TaskCreated.model_validate(result.summary))
        return result.task_id

    async def _drop_orphan(self, schedule_id: int) -> None:
        """The resource is gone but its Temporal Schedule still fires (its deletion failed): remove it now."""
        try:
            await activity.client().get_schedule_handle(temporal_id(schedule_id)).delete()
        except (RPCError, RuntimeError) as exc:
            log.warning("schedule.orphan_delete_failed", schedule_id=schedule_id, error=str(exc))
            return
        log.warning("schedule.drift_repaired", schedule_id=schedule_id, drift=["orphan"], outcome="deleted")
