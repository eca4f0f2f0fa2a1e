"""The reaper: sandboxes and port leases whose task workflow is closed or unknown are removed, and tasks whose
workflow ended without saying so (terminated, timed out, a workflow bug) get a terminal state.

Runs at worker start-up for its own host, and periodically through the Temporal Schedule `wegent-reaper`
(ReaperWorkflow visits every known host's own queue).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.context import WorkerContext
from activities.executors.pool import lease_owner, owner_alive
from activities.ports import lease_workflow, leases_on, release_ports
from core.db.models import ExecutorHost, Task, utcnow
from core.tasks.records import set_state
from wegent.logging import get_logger
from workflows import activity_names
from workflows.models import TaskState

log = get_logger("reaper")


async def workflow_open(client: Client, workflow_id: str) -> tuple[bool, str]:
    """Whether the latest run of `workflow_id` is running, and its status name."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False, "UNKNOWN"
        raise
    status = description.status
    return status == WorkflowExecutionStatus.RUNNING, status.name if status else "UNKNOWN"


async def reap_host(ctx: WorkerContext, client: Client) -> dict[str, int]:
    """Remove this host's executors and port leases that belong to no running workflow."""
    removed = released = 0
    verdicts: dict[str, bool] = {}

    async def is_open(workflow_id: str) -> bool:
        if workflow_id not in verdicts:
            verdicts[workflow_id] = (await workflow_open(client, workflow_id))[0]
        return verdicts[workflow_id]

    for info in await ctx.backend.list_managed():
        if info.workflow_id and await is_open(info.workflow_id):
            continue
        await ctx.backend.stop(info.executor_id)
        removed += 1
        log.info(
            "reaper.executor_removed",
            executor_id=info.executor_id,
            workflow_id=info.workflow_id,
            task_id=info.task_id,
            host=ctx.host,
        )
    # Warm sandboxes serve no workflow yet: theirs is a pool, kept while its worker process lives.
    for info in await ctx.backend.list_warm():
        if info.running and info.warm_owner and owner_alive(info.warm_owner):
            continue
        await ctx.backend.stop(info.executor_id)
        removed += 1
        log.info("reaper.warm_removed", executor_id=info.executor_id, owner=info.warm_owner, host=ctx.host)
    for port, workflow_id in await ctx.in_thread(leases_on, ctx.sessions, ctx.host):
        owner = lease_owner(workflow_id)
        if owner is not None and owner_alive(owner):
            continue
        if owner is None and await is_open(lease_workflow(workflow_id)):
            continue
        released += await ctx.in_thread(release_ports, ctx.sessions, ctx.host, workflow_id)
        log.info("reaper.lease_released", port=port, workflow_id=workflow_id, host=ctx.host)
    return {"executors_removed": removed, "leases_released": released}


def register_host(db: Session, host: str, capacity: int = 0, backend: str = "") -> None:
    """Announce this worker host (and what it offers) to the reaper and to operators."""
    table = ExecutorHost.__table__
    insert = mysql_insert if db.bind is not None and db.bind.dialect.name in ("mysql", "mariadb") else sqlite_insert
    values = {"last_seen": utcnow(), "capacity": capacity, "backend": backend}
    stmt = insert(table).values(host=host, **values)
    if insert is mysql_insert:
        stmt = stmt.on_duplicate_key_update(**values)
    else:
        stmt = stmt.on_conflict_do_update(index_elements=["host"], set_=values)
    db.execute(stmt)
    db.commit()


class ReaperActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=activity_names.REAP_HOST)
    async def reap_host(self) -> dict[str, int]:
        return await reap_host(self.ctx, activity.client())

    @activity.defn(name=activity_names.LIST_EXECUTOR_HOSTS)
    async def list_executor_hosts(self) -> list[str]:
        since = utcnow() - timedelta(days=1)
        return await self.ctx.db(
            lambda db: list(db.scalars(select(ExecutorHost.host).where(ExecutorHost.last_seen >= since)))
        )

    @activity.defn(name=activity_names.RECONCILE_TASKS)
    async def reconcile_tasks(self) -> int:
        """Tasks still marked active whose workflow is closed: make the state say what happened."""
        client = activity.client()
        candidates = await self.ctx.db(
            lambda db: list(
                db.execute(
                    select(Task.id, Task.workflow_id, Task.turn).where(
                        Task.state.in_(
                            [TaskState.RUNNING, TaskState.PENDING, TaskState.CANCELLING, TaskState.PENDING_CONFIRMATION]
                        ),
                        Task.updated_at < utcnow() - timedelta(seconds=30),
                    )
                )
            )
        )
        fixed = 0
        for task_id, workflow_id, turn in candidates:
            running, status = await workflow_open(client, workflow_id or f"task-{task_id}")
            if running:
                continue
            state = TaskState.CANCELLED if status in ("CANCELED", "TERMINATED") else TaskState.FAILED
            error = f"the task workflow ended unexpectedly ({status.lower()})"
            if await self.ctx.db(lambda db, t=task_id, s=state, e=error, n=turn: set_state(db, t, s, e, turn=n)):
                fixed += 1
                log.warning(
                    "reaper.task_reconciled",
                    task_id=task_id,
                    workflow_id=workflow_id,
                    state=state,
                    workflow_status=status,
                )
        return fixed
