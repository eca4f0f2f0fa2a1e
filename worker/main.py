"""The worker process: one Temporal client, three task queues with their own slot limits.

- `wegent-tasks`: workflows and bookkeeping activities (any worker).
- `wegent-host-{host}`: sandbox start/stop on this host; generous slots so it is never starved.
- `wegent-agent-{host}`: agent runs on this host; MAX_CONCURRENT_TASKS slots enforce the per-host limit.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import Worker

from activities.agent_step import AgentStepActivities
from activities.context import WorkerContext, default_host
from activities.executor_activities import ExecutorActivities
from activities.executors.agent_user import agent_user_for
from activities.executors.factory import choose_backend, get_backend
from activities.executors.local_backend import executor_source_root
from activities.executors.pool import WarmPool
from activities.gateway.server import GatewayProcess
from activities.plan_with_take import PlanWithTake
from activities.reaper import ReaperActivities, reap_host, register_host
from activities.relay import EventRelay, NullRelay, redis_relay
from activities.schedule_activities import ScheduleActivities
from activities.task_activities import TaskActivities
from activities.workspace_activities import WorkspaceActivities
from core.db.session import get_sessionmaker
from wegent import metrics
from wegent.config import Settings, get_settings
from wegent.crypto import get_keyring
from wegent.logging import configure_logging, get_logger
from wegent.temporal.client import connect
from wegent.temporal.search_attributes import ensure_registered
from worker.admission import SandboxGate
from worker.reaper_schedule import ensure_reaper_schedule
from worker.sandbox import workflow_runner
from workflows.models import agent_queue, host_queue
from workflows.reaper_workflow import ReaperWorkflow
from workflows.task_workflow import TaskWorkflow

log = get_logger("worker")


def build_context(settings: Settings, relay: EventRelay | None = None) -> WorkerContext:
    choice = choose_backend(settings.executor_backend)
    # A root worker confines local agents to uids of their own (activities/executors/agent_user.py).
    agent = agent_user_for(settings, executor_source_root()) if choice == "local" else None
    backend = get_backend(
        choice, state_dir=settings.state_dir / "executors", scope=settings.temporal_namespace, agent=agent
    )
    ctx = WorkerContext(
        settings=settings,
        sessions=get_sessionmaker(),
        keyring=get_keyring(),
        backend=backend,
        relay=relay or make_relay(settings),
        host=default_host(settings),
    )
    ctx.gateway = GatewayProcess(settings)
    if settings.executor_pool_size > 0 and backend.supports_warm:
        ctx.pool = WarmPool(backend, ctx.sessions, ctx.host, settings, settings.executor_pool_size)
    return ctx


def make_relay(settings: Settings) -> EventRelay:
    if settings.redis_url:
        return redis_relay(settings.redis_url, settings.redis_prefix)
    return NullRelay()


@dataclass
class WorkerSet:
    workers: Sequence[Worker]
    ctx: WorkerContext
    client: Client
    stopping: bool = False

    async def run(self) -> None:
        try:
            await self.ctx.backend.prepare()  # e.g. the local backend's zygote imports while we connect
        except Exception as exc:  # noqa: BLE001 - executors still start without it, only slower
            log.warning("worker.backend_prepare_failed", error=str(exc))
        if self.ctx.pool is not None:
            self.ctx.pool.start()  # fills in the background; tasks start cold until a sandbox is ready
        housekeeping = asyncio.create_task(self._housekeeping())
        sampling = asyncio.create_task(self._sample_sandboxes())
        try:
            await asyncio.gather(*(self._run_worker(w) for w in self.workers))
        finally:
            housekeeping.cancel()
            sampling.cancel()

    async def _run_worker(self, worker: Worker) -> None:
        """Agent steps call models through the gateway, so their queue is polled once it runs; workflows and
        sandbox starts do not wait for it (its process takes a moment to start on a loaded host)."""
        if worker.task_queue == agent_queue(self.ctx.host) and self.ctx.gateway is not None:
            await self.ctx.gateway.start(getattr(self.ctx.backend, "client", None))
            self.ctx.backend.gateway_port = self.ctx.gateway.port
            if self.stopping:  # stopped while the gateway started: this worker never polled
                return
        await worker.run()

    async def _sample_sandboxes(self, every: float = 10.0) -> None:
        """Keep the live-sandbox gauge current (the backend is the only one who knows what runs)."""
        ctx = self.ctx
        metrics.AGENT_SLOTS_CAPACITY.labels(host=ctx.host).set(ctx.settings.max_concurrent_tasks)
        while True:
            try:
                live = [i for i in await ctx.backend.list_managed() if i.running]
                metrics.SANDBOXES_LIVE.labels(host=ctx.host).set(len(live))
            except Exception as exc:  # noqa: BLE001 - a missed sample only leaves the gauge stale
                log.debug("worker.sandbox_sample_failed", error=str(exc))
            await asyncio.sleep(every)

    async def _housekeeping(self) -> None:
        """Announce this host, clean up what earlier lives of this worker left, keep the reaper scheduled."""
        ctx = self.ctx

        def announce(db: Any) -> None:
            register_host(db, ctx.host, ctx.settings.max_concurrent_tasks, ctx.backend.name)

        started = False
        while True:
            try:
                await ctx.db(announce)
                if not started:
                    report = await reap_host(ctx, self.client)
                    log.info("worker.reaped_at_start", host=ctx.host, **report)
                    await ensure_reaper_schedule(self.client, ctx.settings)
                    started = True
            except Exception as exc:  # noqa: BLE001 - housekeeping must never stop the worker
                # E.g. the database is not migrated yet on a fresh deployment: try again soon, not in a minute.
                log.warning("worker.housekeeping_failed", error=str(exc), first=not started)
            await asyncio.sleep(60 if started else 5)

    async def shutdown(self, release_idle: bool = True) -> None:
        """Stop polling, let running activities finish (or be retried elsewhere), then let go of this host.

        ``release_idle``: stop the executors kept warm for follow-ups, which would otherwise outlive us (`wegent
        up` suspends its executors itself instead, to bring them back on its next start).
        """
        self.stopping = True
        await asyncio.gather(*(w.shutdown() for w in self.workers), return_exceptions=True)
        if self.ctx.pool is not None:
            try:
                await self.ctx.pool.drain()  # warm sandboxes serve no task: none outlives its worker
            except Exception as exc:  # noqa: BLE001 - the reaper of the next start removes what is left
                log.warning("worker.pool_drain_failed", error=str(exc))
        if release_idle:
            try:
                await self.ctx.backend.release_idle()
            except Exception as exc:  # noqa: BLE001 - the reaper of the next start cleans up the rest
                log.warning("worker.release_idle_failed", error=str(exc))
        if self.ctx.gateway is not None:
            await self.ctx.gateway.stop()
        await self.ctx.relay.close()
        await asyncio.to_thread(self.ctx.backend.close)


def build_workers(client: Client, ctx: WorkerContext, serve_workflows: bool = True) -> WorkerSet:
    tasks = TaskActivities(ctx)
    executors = ExecutorActivities(ctx)
    agents = AgentStepActivities(ctx)
    schedules = ScheduleActivities(ctx)
    reaper = ReaperActivities(ctx)
    workspaces = WorkspaceActivities(ctx)
    common = {
        "max_heartbeat_throttle_interval": timedelta(seconds=1),
        "graceful_shutdown_timeout": timedelta(seconds=5),
    }
    # Sandboxes start as agent slots free up; parked starts hold host-queue slots, hence plenty of those.
    gate = SandboxGate(ctx.settings.max_concurrent_tasks)
    workers = [
        Worker(
            client,
            task_queue=host_queue(ctx.host),
            activities=[
                gate.start_executor(executors.start_executor),
                gate.stop_executor(executors.stop_executor),
                reaper.reap_host,
                workspaces.prepare_workspace,
            ],
            max_concurrent_activities=1000,
            **common,
        ),
        Worker(
            client,
            task_queue=agent_queue(ctx.host),
            activities=[gate.run_agent_step(agents.run_agent_step)],
            max_concurrent_activities=ctx.settings.max_concurrent_tasks,
            **common,
        ),
    ]
    if serve_workflows:
        take_here = gate.take_warm_executor_here(executors.take_warm_executor_here, ctx.host)
        workers.insert(
            0,
            Worker(
                client,
                task_queue=ctx.settings.task_queue,
                workflows=[TaskWorkflow, ReaperWorkflow],
                workflow_runner=workflow_runner(),
                activities=[
                    tasks.resolve_plan,
                    tasks.update_task_state,
                    tasks.record_note,
                    tasks.pick_host,
                    tasks.claim_user_slot,
                    gate.take_warm_executor(executors.take_warm_executor),
                    take_here,
                    PlanWithTake(tasks.resolve_plan, take_here).resolve_plan_and_take,
                    schedules.create_scheduled_task,
                    reaper.list_executor_hosts,
                    reaper.reconcile_tasks,
                ],
                **common,
            ),
        )
    return WorkerSet(workers=workers, ctx=ctx, client=client)


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    client = await connect(settings)
    # A fresh Temporal knows none of our search attributes, and starting a task workflow would fail on them.
    added = await ensure_registered(client, settings.temporal_namespace)
    if added:
        log.info("worker.search_attributes_registered", namespace=settings.temporal_namespace, added=added)
    ctx = build_context(settings)
    workers = build_workers(client, ctx)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, settings.worker_metrics_host)
    log.info(
        "worker.started",
        host=ctx.host,
        backend=type(ctx.backend).__name__,
        max_concurrent_tasks=settings.max_concurrent_tasks,
        temporal=settings.temporal_address,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(workers.run())
    await stop.wait()
    log.info("worker.stopping")
    await workers.shutdown()
    await runner


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings))
