"""An agent step as the workflow runs it: queued for a slot on its sandbox's host, handed over if that host's
worker stops mid-run.

A step waits on its host's agent queue for one of the MAX_CONCURRENT_TASKS slots; that wait is expected
(the task shows PENDING), so the first try may wait up to an hour. If the worker running the step stops
(SIGTERM: a deploy or a scale-down), the activity leaves the run going in the sandbox and fails with
HostStopping. The step is then offered to the same host again for a short window: a worker of that host back
in time re-attaches to the run (the model is not called again); otherwise the try fails as "host gone" and
the workflow runs the step again in a fresh sandbox on a host that serves work (workflows/errors.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.activity_names import RUN_AGENT_STEP
from workflows.errors import is_host_stopping
from workflows.models import AgentStepInput, StepResult, agent_queue
from workflows.policies import AGENT_RETRY

#: How long a step whose worker stopped mid-run waits for a worker of its host to come back and re-attach.
HANDOVER_SECONDS = 60


async def run_step(step: AgentStepInput, heartbeat_seconds: int) -> StepResult:
    try:
        return await _execute(step, timedelta(hours=1), heartbeat_seconds)
    except ActivityError as err:
        if not (step.handover and is_host_stopping(err)):
            raise
    return await _execute(step, timedelta(seconds=HANDOVER_SECONDS), heartbeat_seconds)


async def _execute(step: AgentStepInput, schedule_to_start: timedelta, heartbeat_seconds: int) -> StepResult:
    return await workflow.execute_activity(
        RUN_AGENT_STEP,
        step,
        result_type=StepResult,
        task_queue=agent_queue(step.executor.host),
        schedule_to_start_timeout=schedule_to_start,
        start_to_close_timeout=timedelta(hours=2),
        heartbeat_timeout=timedelta(seconds=heartbeat_seconds),
        retry_policy=AGENT_RETRY,
        cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )
