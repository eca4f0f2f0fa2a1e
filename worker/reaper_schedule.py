"""The Temporal Schedule that runs ReaperWorkflow periodically (created once, kept in step with settings)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from wegent.config import Settings
from workflows.reaper_workflow import REAPER_SCHEDULE_ID, ReaperWorkflow


async def ensure_reaper_schedule(client: Client, settings: Settings) -> None:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReaperWorkflow.run,
            id=f"{REAPER_SCHEDULE_ID}-run",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=10),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.reaper_interval_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(REAPER_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass
