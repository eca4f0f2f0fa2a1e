"""A task's sandboxes: one per sandbox policy among its members, so each member runs under its own Shell.

A member's Shell decides its sandbox's image, limits and network. Members whose Shells ask for the same policy
share a sandbox (and with it the cloned workspace and runtime sessions); a member with another policy gets a
sandbox of its own on the first step that needs it. Each sandbox has a slot name ("" for the first, then "2",
"3"…) that makes its executor name and port lease distinct from its siblings', so a retried start finds what an
earlier attempt started.

Histories recorded before this (one sandbox per task, the first member's Shell deciding) replay on one
sandbox: the patch marker decides.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.activity_names import (
    PREPARE_WORKSPACE,
    START_EXECUTOR,
    STOP_EXECUTOR,
    TAKE_WARM_EXECUTOR,
    TAKE_WARM_HERE,
)
from workflows.bookkeeping import pick_host
from workflows.cancellation import raise_if_cancelled
from workflows.errors import is_cancellation
from workflows.models import (
    ExecutorRef,
    StartExecutorInput,
    StepPlan,
    TaskPlan,
    WarmTake,
    WorkspaceInput,
    WorkspaceResult,
    host_queue,
)
from workflows.patches import SANDBOX_PER_POLICY, WARM_TAKE_HERE, WARM_TAKE_LOCAL, WORKSPACE_CLONE, applied
from workflows.policies import CLEANUP_RETRY, EXECUTOR_RETRY

# Before the patch every member shared the task's one sandbox.
_SHARED = "*"


def policy_of(member: StepPlan) -> str:
    """What makes two members' sandboxes interchangeable: image, limits and network (not the runtime)."""
    limits = member.limits
    return f"image={member.image or ''};cpu={limits.cpu};memory={limits.memory};pids={limits.pids};net={limits.network}"


def first_sandbox_request(plan: TaskPlan, workflow_id: str) -> StartExecutorInput | None:
    """The start request of a new task's first sandbox, when it can be known with the plan: every member under one
    sandbox policy (so whichever member runs first uses slot "") and no workspace to clone into it first."""
    if not plan.steps or plan.workspace_id is not None or len({policy_of(m) for m in plan.steps}) != 1:
        return None
    first = plan.steps[0]
    return StartExecutorInput(
        task_id=plan.task_id, workflow_id=workflow_id, image=first.image, limits=first.limits, sandbox=""
    )


class TaskSandboxes:
    """The live sandboxes of one task workflow, by policy; started on demand and always released."""

    def __init__(self, task_id: int, carried: list[ExecutorRef]) -> None:
        self.task_id = task_id
        # Continue-as-new hands the warm sandboxes on; one carried from before the patch has no policy yet and
        # goes to the first member that asks (as the first member decided before).
        self._by_policy: dict[str, ExecutorRef] = {ref.policy: ref for ref in carried}
        self._starting: dict[str, asyncio.Lock] = {}

    def carried(self) -> list[ExecutorRef]:
        return list(self._by_policy.values())

    def adopt(self, member: StepPlan, started: ExecutorRef) -> None:
        """A sandbox taken with the plan (first_sandbox_request) becomes the one of ``member``'s policy, slot ""."""
        key = self._key(member)
        started.sandbox, started.policy = "", key if key != _SHARED else ""
        self._by_policy[key] = started

    def _key(self, member: StepPlan) -> str:
        key = policy_of(member) if applied(SANDBOX_PER_POLICY) else _SHARED
        if key not in self._by_policy and "" in self._by_policy:
            self._by_policy[key] = self._by_policy.pop("")
            self._by_policy[key].policy = key if key != _SHARED else ""
        return key

    def _slot_for(self, key: str) -> str:
        """The first slot no live sandbox of this task holds."""
        taken = {ref.sandbox for ref in self._by_policy.values()}
        if key == _SHARED or "" not in taken:
            return ""
        n = 2
        while str(n) in taken:
            n += 1
        return str(n)

    async def ensure(self, member: StepPlan, workspace_id: int | None, workflow_id: str) -> ExecutorRef:
        key = self._key(member)
        if key == _SHARED:  # replaying a history from before the patch: exactly the old commands
            return await self._ensure(key, member, workspace_id, workflow_id)
        # Concurrent steps (coordinate's subtasks) that need the same new sandbox start it once.
        lock = self._starting.setdefault(key, asyncio.Lock())
        async with lock:
            return await self._ensure(key, member, workspace_id, workflow_id)

    async def _ensure(self, key: str, member: StepPlan, workspace_id: int | None, workflow_id: str) -> ExecutorRef:
        existing = self._by_policy.get(key)
        if existing is not None:
            return existing
        slot = self._slot_for(key)
        request = StartExecutorInput(
            task_id=self.task_id,
            workflow_id=workflow_id,
            image=member.image,
            limits=member.limits,
            sandbox=slot,
        )
        # One local activity answers the host of the worker holding this workflow and a warm sandbox of it.
        # Histories from before took the host first, then (from WARM_TAKE_LOCAL on) a warm sandbox.
        here = key != _SHARED and applied(WARM_TAKE_HERE)
        if here:
            host, started = await _here_or_warm(request)
        else:
            host, started = await pick_host(), None
        try:
            if not here and key != _SHARED and applied(WARM_TAKE_LOCAL):
                started = await _take_warm(request)
            if started is None:
                started = await workflow.execute_activity(
                    START_EXECUTOR,
                    request,
                    result_type=ExecutorRef,
                    task_queue=host_queue(host),
                    schedule_to_start_timeout=timedelta(seconds=60),
                    start_to_close_timeout=timedelta(seconds=120),
                    heartbeat_timeout=timedelta(seconds=20),
                    retry_policy=EXECUTOR_RETRY,
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
        except BaseException:
            # Cancelled or failed mid-start: whatever the attempt created on that host must not outlive us.
            await stop(ExecutorRef(host=host, backend="", executor_id="", port=0, sandbox=slot))
            raise
        started.sandbox, started.policy = slot, key if key != _SHARED else ""
        self._by_policy[key] = started
        raise_if_cancelled()  # the start finished after a cancel: the sandbox is released with the others
        # Every fresh sandbox (including one replacing a lost sandbox) gets the task's repository. The patch
        # marker keeps histories from before workspaces replaying.
        if workspace_id is not None and applied(WORKSPACE_CLONE):
            await workflow.execute_activity(
                PREPARE_WORKSPACE,
                WorkspaceInput(
                    task_id=self.task_id, workflow_id=workflow_id, workspace_id=workspace_id, executor=started
                ),
                result_type=WorkspaceResult,
                task_queue=host_queue(started.host),
                schedule_to_start_timeout=timedelta(seconds=60),
                start_to_close_timeout=timedelta(minutes=15),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=EXECUTOR_RETRY,
            )
        return started

    async def forget(self, executor: ExecutorRef, stop_it: bool) -> None:
        """Drop a lost sandbox; clean up what is left of it unless its host is gone (its reaper will)."""
        for key, ref in list(self._by_policy.items()):
            if ref is executor or (ref.host, ref.executor_id) == (executor.host, executor.executor_id):
                del self._by_policy[key]
        if stop_it:
            await stop(executor)

    async def release_all(self) -> None:
        """Stop every sandbox (idle between turns, waiting for approval, the task over)."""
        refs, self._by_policy = list(self._by_policy.values()), {}
        for ref in refs:
            await stop(ref)


async def _here_or_warm(request: StartExecutorInput) -> tuple[str, ExecutorRef | None]:
    """The host of the worker that holds this workflow, with a warm sandbox of its pool if it has one."""
    try:
        take = await workflow.execute_local_activity(
            TAKE_WARM_HERE,
            request,
            result_type=WarmTake,
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return take.host, take.executor
    except BaseException as err:
        if isinstance(err, ActivityError) and not is_cancellation(err):
            return await pick_host(), None  # the take failed: a sandbox is started as usual
        # Cancelled mid-take: whatever the take bound on this host must not outlive us.
        await stop_what_this_host_bound(request.sandbox)
        raise


async def _take_warm(request: StartExecutorInput) -> ExecutorRef | None:
    """A warm sandbox from the pool of the worker that holds this workflow (its host), as a local activity: no
    round trip through the server on the way to the first step. None (or any failure): start one as usual."""
    try:
        return await workflow.execute_local_activity(
            TAKE_WARM_EXECUTOR,
            request,
            result_type=ExecutorRef | None,  # type: ignore[arg-type]
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
    except ActivityError as err:
        if is_cancellation(err):  # the task was cancelled meanwhile: that is not "no warm sandbox"
            raise
        return None


async def stop_what_this_host_bound(slot: str) -> None:
    """A take on this worker's host was cancelled before it answered: stop whatever it bound to that slot."""
    await stop(ExecutorRef(host=await pick_host(), backend="", executor_id="", port=0, sandbox=slot))


async def stop(executor: ExecutorRef) -> None:
    """An empty executor_id means: whatever this workflow's start of that sandbox slot left on that host."""
    await workflow.execute_activity(
        STOP_EXECUTOR,
        executor,
        task_queue=host_queue(executor.host),
        schedule_to_close_timeout=timedelta(minutes=10),
        start_to_close_timeout=timedelta(seconds=60),
        retry_policy=CLEANUP_RETRY,
    )
