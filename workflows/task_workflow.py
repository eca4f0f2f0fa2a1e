"""TaskWorkflow: one task, one workflow `task-{id}`, its steps shaped by the team's collaboration model.

Durable steps: resolve the plan, get an executor on some host, run each agent step there (re-attaching on
retries), and always release the executor — on success, failure and cancellation.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

from workflows import search_attributes as sa
from workflows.handoff import stage_input
from workflows.models import (
    AgentStepInput,
    ExecutorRef,
    FollowUp,
    HistoryItem,
    ScheduledRun,
    StartExecutorInput,
    StateUpdate,
    StepPlan,
    StepResult,
    TaskInput,
    TaskPlan,
    TaskState,
    agent_queue,
    host_queue,
)
from workflows.policies import AGENT_RETRY, CLEANUP_RETRY, DB_RETRY, EXECUTOR_RETRY

# Activity names (strings keep this module free of activity imports and their side effects).
RESOLVE_PLAN = "resolve_plan"
UPDATE_STATE = "update_task_state"
PICK_HOST = "pick_host"
START_EXECUTOR = "start_executor"
STOP_EXECUTOR = "stop_executor"
RUN_AGENT_STEP = "run_agent_step"
CREATE_SCHEDULED_TASK = "create_scheduled_task"
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")

SUPPORTED_MODELS = ("solo", "pipeline")


def root_message(err: BaseException) -> str:
    """The innermost failure's message: what actually went wrong, for the user."""
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
    return getattr(err, "message", None) or str(err)


def is_cancellation(err: BaseException) -> bool:
    while isinstance(err, FailureError):
        if isinstance(err, CancelledError):
            return True
        if err.cause is None:
            return False
        err = err.cause
    return False


def search_attributes_for(plan: TaskPlan | None, task_id: int, state: str) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.TASK_ID, task_id),
        SearchAttributePair(sa.STATE, state),
    ]
    if plan is not None:
        pairs += [
            SearchAttributePair(sa.USER, plan.owner),
            SearchAttributePair(sa.TEAM, plan.team),
            SearchAttributePair(sa.COLLABORATION_MODEL, plan.collaboration_model),
        ]
    return TypedSearchAttributes(pairs)


@workflow.defn(name="TaskWorkflow")
class TaskWorkflow:
    def __init__(self) -> None:
        self._state = TaskState.PENDING
        self._turn = 1
        self._step: int | None = None
        self._bot: str | None = None
        self._executor: ExecutorRef | None = None
        self._history: list[HistoryItem] = []
        self._inbox: list[FollowUp] = []
        self._idle = False

    @workflow.query
    def progress(self) -> dict[str, Any]:
        return {"state": self._state, "turn": self._turn, "step": self._step, "bot": self._bot, "idle": self._idle}

    @workflow.update
    async def follow_up(self, message: FollowUp) -> dict[str, Any]:
        self._inbox.append(message)
        self._idle = False
        return {"accepted": True, "turn": message.turn}

    @follow_up.validator
    def _validate_follow_up(self, message: FollowUp) -> None:
        if not self._idle or self._inbox:
            raise ApplicationError(f"the task is {self._state}: a follow-up is accepted only once a turn has finished")
        if message.turn != self._turn + 1:
            raise ApplicationError(f"expected turn {self._turn + 1}, got {message.turn}")

    @workflow.run
    async def run(self, task: TaskInput) -> dict[str, Any]:
        if task.task_id == 0 and task.schedule_id is not None:
            task.task_id = await self._create_scheduled_task(task.schedule_id)
        try:
            plan = await workflow.execute_activity(
                RESOLVE_PLAN,
                task.task_id,
                result_type=TaskPlan,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY,
            )
            if plan.collaboration_model not in SUPPORTED_MODELS:
                raise ApplicationError(
                    f"collaboration model '{plan.collaboration_model}' is not supported yet",
                    type="InvalidTeam",
                    non_retryable=True,
                )
            self._history = list(plan.history)
            turn, prompt = plan.turn, plan.prompt
            while True:
                self._turn = turn
                outputs = await self._run_turn(task, plan, turn, prompt)
                self._history += [HistoryItem("user", prompt), HistoryItem("assistant", outputs[-1])]
                await self._set_state(task.task_id, TaskState.COMPLETED)
                follow = await self._await_follow_up(task)
                if follow is None:
                    return {"state": TaskState.COMPLETED, "turns": self._turn}
                turn, prompt = follow.turn, follow.content
                self._state = TaskState.PENDING
        except (ActivityError, ApplicationError) as err:
            if is_cancellation(err):
                await self._set_state(task.task_id, TaskState.CANCELLED, error="cancelled by the user")
                raise asyncio.CancelledError() from err
            message = root_message(err)
            await self._set_state(task.task_id, TaskState.FAILED, error=message)
            raise ApplicationError(message, type="TaskFailed", non_retryable=True) from err
        except (asyncio.CancelledError, CancelledError):
            await self._set_state(task.task_id, TaskState.CANCELLED, error="cancelled by the user")
            raise
        finally:
            await self._release_executor()

    async def _create_scheduled_task(self, schedule_id: int) -> int:
        """A Temporal Schedule started us: record the run as an ordinary task (prompt rendered from the
        scheduled time, not from any worker's clock)."""
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
        return await workflow.execute_activity(
            CREATE_SCHEDULED_TASK,
            ScheduledRun(
                schedule_id=schedule_id,
                workflow_id=workflow.info().workflow_id,
                scheduled_time=scheduled.isoformat() if scheduled else None,
            ),
            result_type=int,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )

    async def _await_follow_up(self, task: TaskInput) -> FollowUp | None:
        """Keep the executor warm for a while, then release it and wait (for free) until the task idles out."""
        self._idle = True
        if task.executor_idle_seconds > 0:
            await self._wait_inbox(task.executor_idle_seconds)
        if not self._inbox:
            await self._release_executor()
            remaining = task.task_idle_seconds - max(task.executor_idle_seconds, 0)
            if remaining > 0:
                await self._wait_inbox(remaining)
        self._idle = False
        return self._inbox.pop(0) if self._inbox else None

    async def _wait_inbox(self, seconds: int) -> None:
        try:
            await workflow.wait_condition(lambda: bool(self._inbox), timeout=timedelta(seconds=seconds))
        except TimeoutError:
            pass

    async def _run_turn(self, task: TaskInput, plan: TaskPlan, turn: int, prompt: str) -> list[str]:
        executor = await self._ensure_executor(task, plan.steps[0])
        outputs: list[str] = []
        previous: str | None = None
        for step in plan.steps:
            self._step, self._bot = step.index, step.bot
            text = stage_input(step.context_passing, prompt, previous)
            result = await self._agent_step(task, step, turn, text, executor, history=list(self._history))
            outputs.append(result.output)
            previous = result.output
        return outputs

    async def _agent_step(
        self,
        task: TaskInput,
        step: StepPlan,
        turn: int,
        prompt: str,
        executor: ExecutorRef,
        history: list[HistoryItem],
        session_id: str | None = None,
    ) -> StepResult:
        if self._state != TaskState.RUNNING:
            self._state = TaskState.RUNNING
            workflow.upsert_search_attributes([sa.STATE.value_set(TaskState.RUNNING)])
        return await workflow.execute_activity(
            RUN_AGENT_STEP,
            AgentStepInput(
                task_id=task.task_id,
                workflow_id=workflow.info().workflow_id,
                turn=turn,
                step=step.index,
                bot=step.bot,
                shell_type=step.shell_type,
                system_prompt=step.system_prompt,
                model_id=step.model_id,
                prompt=prompt,
                executor=executor,
                history=history,
                session_id=session_id,
            ),
            result_type=StepResult,
            task_queue=agent_queue(executor.host),
            # Waiting for a free slot is expected (PENDING); a host whose queue nobody serves is not.
            schedule_to_start_timeout=timedelta(hours=6),
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=AGENT_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    async def _ensure_executor(self, task: TaskInput, first: StepPlan) -> ExecutorRef:
        if self._executor is not None:
            return self._executor
        host = await workflow.execute_activity(
            PICK_HOST, start_to_close_timeout=timedelta(seconds=10), retry_policy=DB_RETRY, result_type=str
        )
        self._executor = await workflow.execute_activity(
            START_EXECUTOR,
            StartExecutorInput(
                task_id=task.task_id,
                workflow_id=workflow.info().workflow_id,
                image=first.image,
                cpu=first.cpu,
                memory=first.memory,
                pids=first.pids,
                network=first.network,
            ),
            result_type=ExecutorRef,
            task_queue=host_queue(host),
            schedule_to_start_timeout=timedelta(seconds=60),
            start_to_close_timeout=timedelta(seconds=120),
            heartbeat_timeout=timedelta(seconds=20),
            retry_policy=EXECUTOR_RETRY,
        )
        return self._executor

    async def _release_executor(self) -> None:
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        await workflow.execute_activity(
            STOP_EXECUTOR,
            executor,
            task_queue=host_queue(executor.host),
            schedule_to_close_timeout=timedelta(minutes=10),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=CLEANUP_RETRY,
        )

    async def _set_state(self, task_id: int, state: str, error: str | None = None) -> None:
        self._state = state
        workflow.upsert_search_attributes([sa.STATE.value_set(state)])
        await workflow.execute_activity(
            UPDATE_STATE,
            StateUpdate(
                task_id=task_id,
                state=state,
                turn=self._turn,
                error=error,
                current_step=self._step,
                current_bot=self._bot,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )
