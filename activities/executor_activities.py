"""Executor lifecycle on one host's own queue: lease a port, start the sandbox, wait for health, release."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext
from activities.executors.base import (
    ExecutorHandle,
    ExecutorImageMissing,
    ExecutorSpec,
    executor_digest,
    executor_name,
)
from activities.ports import NoFreePort, lease_key, lease_port, release_ports
from activities.tokens import executor_token
from core.db.models import User
from wegent.logging import get_logger
from wegent.sandbox import image_refusal, limits_for
from workflows import activity_names
from workflows.models import ExecutorRef, StartExecutorInput, WarmTake

log = get_logger("activities.executor")


class ExecutorActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=activity_names.START_EXECUTOR)
    async def start_executor(self, request: StartExecutorInput) -> ExecutorRef:
        settings = self.ctx.settings
        bound = log.bind(task_id=request.task_id, workflow_id=request.workflow_id, host=self.ctx.host)
        image_refused = image_refusal(settings, request.image)  # a Shell written before the allow-list changed
        refused = f"image '{request.image}' {image_refused}" if image_refused else await self._unsandboxed_refusal()
        lease = lease_key(request.workflow_id, request.sandbox)
        if refused:
            await self.ctx.in_thread(release_ports, self.ctx.sessions, self.ctx.host, lease)
            raise ApplicationError(refused, type="SandboxRefused", non_retryable=True)
        limits = limits_for(settings, request.limits)
        token = executor_token(request.workflow_id)
        pool = self.ctx.pool
        # A retry, or a start after an unfinished warm take, finds the sandbox already taken by its name: the cold
        # path below returns it.
        if (
            pool is not None
            and activity.info().attempt == 1
            and pool.fits(request.image, limits)
            and await self._existing(request) is None
        ):
            warm = await pool.take(request.task_id, request.workflow_id, token, request.sandbox)
            if warm is not None:
                bound.info("executor.started", backend=warm.backend, executor_id=warm.executor_id, warm=True)
                return self._ref(warm, request)
        try:
            port = await self.ctx.in_thread(
                lease_port,
                self.ctx.sessions,
                self.ctx.host,
                lease,
                settings.port_range_min,
                settings.port_range_max,
            )
        except NoFreePort as exc:
            raise ApplicationError(str(exc), type="NoFreePort", non_retryable=True) from exc
        spec = ExecutorSpec(
            task_id=request.task_id,
            workflow_id=request.workflow_id,
            port=port,
            token=token,
            image=request.image or settings.executor_image,
            env={},
            limits=limits,
            sandbox=request.sandbox,
        )
        heartbeat = asyncio.create_task(_heartbeat_every(5.0))
        try:
            if not spec.limits.network:
                await self._gateway_port()
            handle = await self.ctx.backend.start(spec)
            await self.ctx.backend.wait_healthy(handle, 90.0)
        except ExecutorImageMissing as exc:
            raise ApplicationError(
                f"executor image '{spec.image}' is missing on host {self.ctx.host}: run `wegent executor build`",
                type="ExecutorImageMissing",
                non_retryable=True,
            ) from exc
        except Exception as exc:
            bound.warning("executor.start_failed", error=str(exc))
            raise
        finally:
            heartbeat.cancel()
        bound.info("executor.started", backend=handle.backend, executor_id=handle.executor_id, port=handle.port)
        return self._ref(handle, request)

    @activity.defn(name=activity_names.TAKE_WARM_EXECUTOR)
    async def take_warm_executor(self, request: StartExecutorInput) -> ExecutorRef | None:
        """A sandbox of this worker's warm pool for the task, or None (then `start_executor` starts one).

        Run as a local activity by the worker that holds the workflow, on its own host: no round trip through
        the server before the first step. Anything the regular start would refuse is left to it, to say why.
        """
        pool = self.ctx.pool
        limits = limits_for(self.ctx.settings, request.limits)
        if pool is None or not pool.fits(request.image, limits):
            return None
        if image_refusal(self.ctx.settings, request.image):
            return None
        # A workflow task that ran this before and did not complete (a retried workflow task, a worker that
        # stopped) may have taken one already: that one is the workflow's, and a second could not be adopted.
        # Both reads at once: they are on the way to a new task's first token.
        refused, existing = await asyncio.gather(self._unsandboxed_refusal(), self._existing(request))
        if refused:
            return None
        bound = log.bind(task_id=request.task_id, workflow_id=request.workflow_id, host=self.ctx.host)
        if existing is not None:
            bound.info("executor.started", backend=existing.backend, executor_id=existing.executor_id, reused=True)
            return existing
        warm = await pool.take(
            request.task_id, request.workflow_id, executor_token(request.workflow_id), request.sandbox
        )
        if warm is None:
            return None
        bound.info("executor.started", backend=warm.backend, executor_id=warm.executor_id, warm=True, local=True)
        return self._ref(warm, request)

    @activity.defn(name=activity_names.TAKE_WARM_HERE)
    async def take_warm_executor_here(self, request: StartExecutorInput) -> WarmTake:
        """This worker's host, with a warm sandbox of it for the task if it has one: one local activity where
        `pick_host` and `take_warm_executor` were two on the way to the first step."""
        return WarmTake(host=self.ctx.host, executor=await self.take_warm_executor(request))

    async def _existing(self, request: StartExecutorInput) -> ExecutorRef | None:
        """The workflow's running sandbox of this slot on this host, if it has one already."""
        backend = self.ctx.backend
        name = executor_name(request.task_id, request.workflow_id, backend.scope, request.sandbox)
        info = await backend.inspect(name)
        if info is None or not info.running or not info.port:
            return None
        return self._ref(ExecutorHandle(backend=backend.name, executor_id=name, host="", port=info.port), request)

    def _ref(self, handle: ExecutorHandle, request: StartExecutorInput) -> ExecutorRef:
        """How the workflow names a sandbox of this host: the host's queue name, not its address."""
        return ExecutorRef(
            host=self.ctx.host,
            backend=handle.backend,
            executor_id=handle.executor_id,
            port=handle.port,
            sandbox=request.sandbox,
        )

    async def _gateway_port(self, wait_s: float = 60.0) -> None:
        """An offline sandbox reaches its model only through the relay to this host's gateway, so the relay needs
        the gateway's port: a start right after the worker started waits for the gateway to be up."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while self.ctx.gateway is not None and self.ctx.backend.gateway_port is None:
            if asyncio.get_running_loop().time() > deadline:
                raise ApplicationError("this host's model gateway did not start", type="GatewayMissing")
            await asyncio.sleep(0.1)

    async def _unsandboxed_refusal(self) -> str | None:
        """The local backend is for one person's own machine: with other people's agents next to the state
        folder (keys, database), any of them could read it."""
        if self.ctx.backend.name != "local" or self.ctx.settings.allow_unsandboxed:
            return None
        users = await self.ctx.db(_active_people)
        if users <= 1:
            return None
        return (
            f"the local executor backend runs agents unsandboxed, and this deployment has {users} active users: "
            "use the docker backend, or set WEGENT_ALLOW_UNSANDBOXED=1 to accept the risk"
        )

    @activity.defn(name=activity_names.STOP_EXECUTOR)
    async def stop_executor(self, ref: ExecutorRef) -> None:
        workflow_id = activity.info().workflow_id
        if ref.executor_id:
            await self.ctx.backend.stop(ref.executor_id)
        else:  # a start was interrupted: find what it may have created
            scope = self.ctx.backend.scope
            for info in await self.ctx.backend.list_managed():
                if info.workflow_id == workflow_id and _of_slot(info.executor_id, workflow_id, scope, ref.sandbox):
                    await self.ctx.backend.stop(info.executor_id)
        lease = lease_key(workflow_id, ref.sandbox)
        released = await self.ctx.in_thread(release_ports, self.ctx.sessions, self.ctx.host, lease)
        log.info(
            "executor.stopped",
            executor_id=ref.executor_id,
            workflow_id=workflow_id,
            sandbox=ref.sandbox,
            ports_released=released,
        )


def _of_slot(executor_id: str, workflow_id: str, scope: str, sandbox: str) -> bool:
    """Whether an executor of this workflow belongs to the sandbox slot whose start was interrupted. The first
    slot ("", also every task from before per-policy sandboxes) takes all of the workflow's, as it always did:
    an interrupted first start fails the task, so nothing else of it is left to keep."""
    return not sandbox or executor_id.endswith("-" + executor_digest(workflow_id, scope, sandbox))


def _active_people(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User).where(User.is_active, User.role != "system")) or 0


async def _heartbeat_every(seconds: float) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(seconds)
