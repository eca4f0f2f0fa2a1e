"""ReaperWorkflow: started every minute by the Temporal Schedule `wegent-reaper`; visits each host's queue."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.activity_names import LIST_EXECUTOR_HOSTS, REAP_HOST, RECONCILE_TASKS
from workflows.models import host_queue

REAPER_SCHEDULE_ID = "wegent-reaper"


def reaper_schedule_id(task_queue: str) -> str:
    """One reaper per deployment (task queue): `wegent-reaper` for the default queue."""
    return REAPER_SCHEDULE_ID if task_queue == "wegent-tasks" else f"{REAPER_SCHEDULE_ID}-{task_queue}"


@workflow.defn(name="ReaperWorkflow")
class ReaperWorkflow:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        once = RetryPolicy(maximum_attempts=1)
        hosts = await workflow.execute_activity(
            LIST_EXECUTOR_HOSTS,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=once,
            result_type=list[str],
        )
        report: dict[str, Any] = {}

        async def visit(host: str) -> None:
            try:
                report[host] = await workflow.execute_activity(
                    REAP_HOST,
                    task_queue=host_queue(host),
                    # A host nobody serves is skipped; its own worker reaps at start-up when it returns.
                    schedule_to_start_timeout=timedelta(seconds=20),
                    start_to_close_timeout=timedelta(seconds=120),
                    retry_policy=once,
                    result_type=dict[str, int],
                )
            except ActivityError as err:
                report[host] = {"skipped": str(err.cause or err)}

        await asyncio.gather(*(visit(host) for host in hosts))
        report["tasks_reconciled"] = await workflow.execute_activity(
            RECONCILE_TASKS, start_to_close_timeout=timedelta(seconds=120), retry_policy=once, result_type=int
        )
        return report
