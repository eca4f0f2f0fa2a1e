"""Starting and cancelling a task's workflow `task-{id}`, with its input and search attributes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from core.db.models import Task
from wegent.config import get_settings
from wegent.temporal import search_attributes as sa
from wegent.temporal.client import workflow_id_for
from workflows.models import TaskInput
from workflows.task_workflow import TaskWorkflow


def search_attributes(task: Task, username: str) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.TASK_ID, task.id),
        SearchAttributePair(sa.USER, username),
        SearchAttributePair(sa.TEAM, f"{task.team_namespace}/{task.team_name}"),
        SearchAttributePair(sa.COLLABORATION_MODEL, task.collaboration_model),
        SearchAttributePair(sa.STATE, task.state),
    ]
    if task.schedule_id is not None:
        pairs.append(SearchAttributePair(sa.SCHEDULE_ID, task.schedule_id))
    return TypedSearchAttributes(pairs)


def task_input(
    task: Task, retry: bool = False, model_override_id: int | None = None, slot_claimed: bool = False
) -> TaskInput:
    settings = get_settings()
    return TaskInput(
        task_id=task.id,
        retry=retry,
        model_override_id=model_override_id,
        slot_claimed=slot_claimed,
        agent_heartbeat_seconds=settings.agent_heartbeat_seconds,
        executor_idle_seconds=settings.executor_idle_seconds,
        task_idle_seconds=settings.task_idle_seconds,
        max_history_events=settings.max_history_events,
    )


async def start_workflow(
    client: Client,
    task: Task,
    username: str,
    retry: bool = False,
    model_override_id: int | None = None,
    slot_claimed: bool = False,
) -> None:
    """Start (or, for a retry or a late follow-up, start again) the task's workflow `task-{id}`."""
    workflow_id = task.workflow_id or workflow_id_for(task.id)

    async def start() -> None:
        await client.start_workflow(
            TaskWorkflow.run,
            task_input(task, retry, model_override_id, slot_claimed),
            id=workflow_id,
            task_queue=get_settings().task_queue,
            search_attributes=search_attributes(task, username),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            # When this process also runs a worker of the task queue (`wegent up`), its first workflow task
            # comes back with the start instead of through the queue; elsewhere the request changes nothing.
            request_eager_start=True,
        )

    try:
        await start()
    except WorkflowAlreadyStartedError:
        if task.turn == 1 and not retry:
            raise
        # The previous run has recorded its end but is still releasing its sandbox: let it finish first.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), timeout=60)
        await start()


async def cancel_workflow(handle: WorkflowHandle) -> bool:
    """Ask the workflow to cancel. False when Temporal does not know it (it never started or already closed)."""
    try:
        await handle.cancel()
    except RPCError:
        return False
    return True
