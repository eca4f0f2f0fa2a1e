"""A burst of tasks starts its sandboxes as agent slots free up, not all at once.

A task's sandbox is started on its host's queue before its first step waits for one of the host's
MAX_CONCURRENT_TASKS agent slots. Left alone, 200 tasks submitted at once started 200 sandboxes while 195 of
them waited for a slot: 200 processes or containers, and past the host's executor port range the rest failed
with NoFreePort. The gate lets at most ``ahead`` sandboxes of this worker be started but not yet running a
step, so a freed slot finds a ready sandbox and nothing more is started early. Waiting tasks stay PENDING, their
start activity parked here (heartbeating) in arrival order.

A start that has waited ``max_wait`` seconds goes ahead regardless: the workflow gives a sandbox start two
minutes, and a task must not fail because its host is busy. A start that finds every executor port of the host
leased (sandboxes whose step just ended, the warm pool) waits for one the same way.
An entry whose step never ran on this worker (another worker process on the same host ran it) expires.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.activity_names import TAKE_WARM_EXECUTOR, TAKE_WARM_HERE
from workflows.models import AgentStepInput, ExecutorRef, StartExecutorInput, StepResult, WarmTake

T = TypeVar("T")

#: A started sandbox whose step this worker never saw stops counting after this long.
EXPIRE_SECONDS = 600.0


class SandboxGate:
    def __init__(self, ahead: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ahead = max(1, ahead)
        self._clock = clock
        self._ready: dict[str, float] = {}  # workflow id -> when admitted: a sandbox started, no step yet
        self._queue: deque[tuple[str, asyncio.Future[None]]] = deque()

    @property
    def ready(self) -> int:
        return len(self._ready)

    @property
    def waiting(self) -> int:
        return sum(1 for _, future in self._queue if not future.done())

    async def admit(self, workflow_id: str, max_wait: float) -> bool:
        """Wait for room to start this workflow's sandbox. False when it went ahead after ``max_wait``."""
        if self.try_admit(workflow_id):
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((workflow_id, future))
        try:
            await asyncio.wait_for(asyncio.shield(future), max_wait)
            return True
        except TimeoutError:
            if not future.done():
                future.cancel()
            self._ready[workflow_id] = self._clock()
            return False
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(workflow_id)  # admitted just as the start was cancelled: give the room on
            else:
                future.cancel()
            raise

    def try_admit(self, workflow_id: str) -> bool:
        """Admit at once when there is room and nobody waits; never wait."""
        self._expire()
        if workflow_id in self._ready or (len(self._ready) < self.ahead and not self.waiting):
            self._ready[workflow_id] = self._clock()
            return True
        return False

    def release(self, workflow_id: str) -> None:
        """The workflow's step began, or its sandbox start failed or it was stopped: make room."""
        if self._ready.pop(workflow_id, None) is not None:
            self._pump()

    def _expire(self) -> None:
        limit = self._clock() - EXPIRE_SECONDS
        for workflow_id in [w for w, since in self._ready.items() if since < limit]:
            del self._ready[workflow_id]
        self._pump()

    def _pump(self) -> None:
        while self._queue and len(self._ready) < self.ahead:
            workflow_id, future = self._queue.popleft()
            if future.done():
                continue
            self._ready[workflow_id] = self._clock()
            future.set_result(None)

    # ---- the host's activities, gated ------------------------------------------------------------------

    def start_executor(
        self, start: Callable[[StartExecutorInput], Awaitable[ExecutorRef]]
    ) -> Callable[[StartExecutorInput], Awaitable[ExecutorRef]]:
        @activity.defn(name="start_executor")
        async def start_executor(request: StartExecutorInput) -> ExecutorRef:
            workflow_id = activity.info().workflow_id
            timeout = activity.info().start_to_close_timeout
            max_wait = max(timeout.total_seconds() - 30.0, 5.0) if timeout else 90.0
            deadline = time.monotonic() + max_wait
            beat = asyncio.create_task(_heartbeat_every(5.0))
            try:
                await self.admit(workflow_id, max_wait)
                while True:
                    try:
                        return await start(request)
                    except ApplicationError as exc:
                        # Every port of the host is taken (sandboxes of steps that just ended, the warm pool):
                        # one frees in moments, so wait for it rather than fail the task.
                        if exc.type != "NoFreePort" or time.monotonic() > deadline:
                            raise
                    await asyncio.sleep(0.5)
            except BaseException:
                self.release(workflow_id)
                raise
            finally:
                beat.cancel()

        return start_executor

    def take_warm_executor(
        self, take: Callable[[StartExecutorInput], Awaitable[ExecutorRef | None]]
    ) -> Callable[[StartExecutorInput], Awaitable[ExecutorRef | None]]:
        """The warm take never waits: with no room at the gate right now, the regular start waits in line."""

        @activity.defn(name=TAKE_WARM_EXECUTOR)
        async def take_warm_executor(request: StartExecutorInput) -> ExecutorRef | None:
            return await self._take_if_admitted(lambda: take(request), None, lambda taken: taken is not None)

        return take_warm_executor

    def take_warm_executor_here(
        self, take: Callable[[StartExecutorInput], Awaitable[WarmTake]], host: str
    ) -> Callable[[StartExecutorInput], Awaitable[WarmTake]]:
        """As take_warm_executor, answered with the host (activities.executor_activities)."""

        @activity.defn(name=TAKE_WARM_HERE)
        async def take_warm_executor_here(request: StartExecutorInput) -> WarmTake:
            return await self._take_if_admitted(
                lambda: take(request), WarmTake(host=host), lambda taken: bool(taken.executor)
            )

        return take_warm_executor_here

    async def _take_if_admitted(self, take: Callable[[], Awaitable[T]], refused: T, took: Callable[[T], bool]) -> T:
        workflow_id = activity.info().workflow_id
        if not self.try_admit(workflow_id):
            return refused
        try:
            taken = await take()
        except BaseException:
            self.release(workflow_id)
            raise
        if not took(taken):
            self.release(workflow_id)
        return taken

    def stop_executor(self, stop: Callable[[ExecutorRef], Awaitable[None]]) -> Callable[[ExecutorRef], Awaitable[None]]:
        @activity.defn(name="stop_executor")
        async def stop_executor(ref: ExecutorRef) -> None:
            self.release(activity.info().workflow_id)
            await stop(ref)

        return stop_executor

    def run_agent_step(
        self, run: Callable[[AgentStepInput], Awaitable[StepResult]]
    ) -> Callable[[AgentStepInput], Awaitable[StepResult]]:
        @activity.defn(name="run_agent_step")
        async def run_agent_step(step: AgentStepInput) -> StepResult:
            self.release(step.workflow_id)  # this slot is taken: the next sandbox may start
            return await run(step)

        return run_agent_step


async def _heartbeat_every(seconds: float) -> Any:
    while True:
        activity.heartbeat()
        await asyncio.sleep(seconds)
