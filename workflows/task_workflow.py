"""TaskWorkflow: one task, one workflow `task-{id}`, its steps shaped by the team's collaboration model.

Durable steps: resolve the plan, get an executor on some host, run each agent step there (re-attaching on
retries), and always release the executor — on success, failure and cancellation. A task is a conversation:
after a turn the workflow waits (for free) for a follow-up, and continues as new before its history grows
large.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

from wegent.temporal import search_attributes as sa
from workflows import shapes
from workflows.activity_names import (
    CREATE_SCHEDULED_TASK,
    RECORD_NOTE,
    RESOLVE_PLAN,
    RESOLVE_PLAN_AND_TAKE,
    UPDATE_STATE,
)
from workflows.approvals import ApprovalGate
from workflows.bookkeeping import db_step, record
from workflows.cancellation import raise_if_cancelled
from workflows.errors import TaskRejected, executor_loss, is_cancellation, is_host_gone, root_message
from workflows.models import (
    AgentStepInput,
    Approval,
    CompletedStep,
    ExecutorRef,
    FollowUp,
    HistoryItem,
    Note,
    PlannedTake,
    PlanRequest,
    Rejection,
    ScheduledRun,
    StateUpdate,
    StepPlan,
    StepResult,
    TaskInput,
    TaskPlan,
    TaskState,
)
from workflows.patches import HOST_HANDOVER, PLAN_WITH_TAKE, USER_RUNNING_LIMIT, applied, decide_up_front
from workflows.policies import DB_RETRY
from workflows.sandboxes import TaskSandboxes, stop_what_this_host_bound
from workflows.slots import wait_for_slot
from workflows.step_runs import run_step

SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
MAX_EXECUTOR_LOSSES = 2


@workflow.defn(name="TaskWorkflow")
class TaskWorkflow:
    @workflow.init
    def __init__(self, task: TaskInput) -> None:
        # @workflow.init: update validators may run before `run` starts (an update that raced a
        # continue-as-new is delivered with the new run's first task), so the input is read here.
        self.task = task
        self.plan: TaskPlan | None = None
        self._state = TaskState.PENDING
        self._turn = 1
        self._step_counter = 0
        self._step: int | None = None
        self._bot: str | None = None
        self._sandboxes = TaskSandboxes(task.task_id, task.executors or ([task.executor] if task.executor else []))
        self._history: list[HistoryItem] = []
        self._inbox: list[FollowUp] = []
        self._idle = False
        self._approvals = ApprovalGate()
        self._completed: dict[int, CompletedStep] = {}
        self._attempts: dict[int, int] = {}
        self._sessions: dict[str, str] = {}
        if task.resume_idle:
            # This run starts between turns: follow-ups are welcome while the plan loads.
            self._turn, self._idle, self._state = task.turn, True, TaskState.COMPLETED

    # ---- queries and updates -----------------------------------------------------------------------

    @workflow.query
    def progress(self) -> dict[str, Any]:
        return {
            "state": self._state,
            "turn": self._turn,
            "step": self._step,
            "bot": self._bot,
            "idle": self._idle,
            "awaiting_approval": self._approvals.awaiting,
        }

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

    @workflow.update
    async def approve(self, approval: Approval) -> dict[str, Any]:
        self._approvals.decide(approval)
        return {"approved": True}

    @approve.validator
    def _validate_approve(self, approval: Approval) -> None:
        self._approvals.require_waiting(self._state)

    @workflow.update
    async def reject(self, rejection: Rejection) -> dict[str, Any]:
        self._approvals.decide(rejection)
        return {"rejected": True}

    @reject.validator
    def _validate_reject(self, rejection: Rejection) -> None:
        self._approvals.require_waiting(self._state)

    # ---- the run -------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, task: TaskInput) -> dict[str, Any]:
        decide_up_front()  # before any await: see workflows/patches.py
        if task.task_id == 0 and task.schedule_id is not None:
            task.task_id = self._sandboxes.task_id = await self._create_scheduled_task(task.schedule_id)
            workflow.upsert_search_attributes([sa.TASK_ID.value_set(task.task_id)])
            # A scheduled run must not hold the schedule's overlap slot while idle: follow-ups start a new run.
            task.executor_idle_seconds = task.task_idle_seconds = 0
        try:
            request = PlanRequest(
                task_id=task.task_id,
                history_through_turn=task.turn if task.resume_idle else None,
                retry=task.retry,
                model_override_id=task.model_override_id,
            )
            # A turn that starts at once (the API claimed its slot) needs a sandbox next: one local activity
            # reads the plan and takes a warm sandbox of this host, where two ran one after another.
            if task.slot_claimed and not task.resume_idle and applied(PLAN_WITH_TAKE):
                plan = await self._plan_and_take(request)
            else:
                plan = await db_step(RESOLVE_PLAN, request, TaskPlan)
            self.plan = plan
            self._history = list(plan.history)
            self._completed = {c.step: c for c in plan.completed}
            self._attempts = {int(k): v for k, v in plan.attempts.items()}
            self._sessions = dict(plan.sessions)
            if not task.resume_idle:
                self._turn = plan.turn
            prompt, claimed = plan.prompt, task.slot_claimed and not task.resume_idle
            if task.resume_idle:
                follow = await self._between_turns()
                if follow is None:
                    return {"state": TaskState.COMPLETED, "turns": self._turn}
                self._turn, prompt, claimed = follow.turn, follow.content, follow.slot_claimed
            while True:
                self._step_counter = 0
                # Histories from before per-user limits replay without the claim. A turn whose slot the API
                # claimed when it took the message goes straight on (one local activity fewer to the first token).
                if applied(USER_RUNNING_LIMIT) and not claimed:
                    await wait_for_slot(self.task.task_id, self._turn)
                answer = await shapes.run_turn(self, plan, prompt)
                raise_if_cancelled()  # the last step finished after a cancel: the task does not wait idle
                self._completed, self._attempts = {}, {}  # a retry's reuse applies to its own turn only
                self._history += [HistoryItem("user", prompt), HistoryItem("assistant", answer)]
                await self.set_state(TaskState.COMPLETED)
                follow = await self._between_turns()
                if follow is None:
                    return {"state": TaskState.COMPLETED, "turns": self._turn}
                self._turn, prompt, claimed = follow.turn, follow.content, follow.slot_claimed
                self._state = TaskState.PENDING
        except TaskRejected as rejected:
            await self.set_state(TaskState.CANCELLED, error=f"rejected: {rejected.reason}")
            return {"state": TaskState.CANCELLED, "reason": rejected.reason}
        except (ActivityError, ApplicationError) as err:
            if is_cancellation(err):
                await self.set_state(TaskState.CANCELLED, error="cancelled by the user")
                raise asyncio.CancelledError() from err
            message = root_message(err)
            await self.set_state(TaskState.FAILED, error=message)
            raise ApplicationError(message, type="TaskFailed", non_retryable=True) from err
        except (asyncio.CancelledError, CancelledError):
            await self.set_state(TaskState.CANCELLED, error="cancelled by the user")
            raise
        except Exception as err:
            # A bug in workflow code: fail the task visibly (it can be retried once fixed) instead of leaving
            # it RUNNING while Temporal retries the workflow task forever.
            message = f"internal error in the task workflow: {type(err).__name__}: {err}"
            await self.set_state(TaskState.FAILED, error=message)
            raise ApplicationError(message, type="WorkflowBug", non_retryable=True) from err
        finally:
            if not self._continuing:
                await self.release_executor()

    async def _plan_and_take(self, request: PlanRequest) -> TaskPlan:
        try:
            planned = await workflow.execute_local_activity(
                RESOLVE_PLAN_AND_TAKE,
                request,
                result_type=PlannedTake,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY,
            )
        except BaseException as err:
            # Cancelled mid-take: whatever the take bound on this host must not outlive us. (A failed plan took
            # nothing: the activity takes only once the plan is read, and a failed take is no take.)
            if not isinstance(err, ActivityError) or is_cancellation(err):
                await stop_what_this_host_bound("")
            raise
        taken = planned.take.executor if planned.take is not None else None
        if taken is not None:
            self._sandboxes.adopt(planned.plan.steps[0], taken)
        return planned.plan

    _continuing = False

    async def _between_turns(self) -> FollowUp | None:
        """Continue as new when the history is long; else wait for a follow-up (executor warm, then released)."""
        info = workflow.info()
        if info.is_continue_as_new_suggested() or info.get_current_history_length() >= self.task.max_history_events:
            await workflow.wait_condition(workflow.all_handlers_finished)
            self._continuing = True
            workflow.continue_as_new(
                TaskInput(
                    task_id=self.task.task_id,
                    executor_idle_seconds=self.task.executor_idle_seconds,
                    task_idle_seconds=self.task.task_idle_seconds,
                    executors=self._sandboxes.carried(),
                    resume_idle=True,
                    turn=self._turn,
                    max_history_events=self.task.max_history_events,
                )
            )
        self._idle = True
        if self.task.executor_idle_seconds > 0:
            await self._wait_inbox(self.task.executor_idle_seconds)
        if not self._inbox:
            await self.release_executor()
            remaining = self.task.task_idle_seconds - max(self.task.executor_idle_seconds, 0)
            if remaining > 0:
                await self._wait_inbox(remaining)
        self._idle = False
        return self._inbox.pop(0) if self._inbox else None

    async def _wait_inbox(self, seconds: int) -> None:
        try:
            await workflow.wait_condition(lambda: bool(self._inbox), timeout=timedelta(seconds=seconds))
        except TimeoutError:
            pass

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

    # ---- building blocks for the collaboration shapes --------------------------------------------------

    @property
    def turn(self) -> int:
        return self._turn

    @property
    def history(self) -> list[HistoryItem]:
        return list(self._history)

    def next_step(self) -> int:
        step = self._step_counter
        self._step_counter += 1
        return step

    async def agent_step(
        self, member: StepPlan, prompt: str, *, with_history: bool = True, step: int | None = None
    ) -> StepResult:
        """Run one bot on the task's executor; the step number orders its message in the turn.

        A retried task reuses the steps that already succeeded. A lost sandbox (container killed, OOM, host
        gone) is replaced and the step runs again as a new attempt, with a notice for the user.
        """
        number = self.next_step() if step is None else step
        cached = self._completed.get(number)
        if cached is not None:
            return StepResult(output=cached.output, message_id=cached.message_id)
        attempt = self._attempts.get(number, 0) + 1
        for losses in range(MAX_EXECUTOR_LOSSES + 1):
            raise_if_cancelled()  # an earlier step finished after a cancel: no further step begins
            executor = await self.ensure_executor(member)
            self._step, self._bot = number, member.bot
            if self._state != TaskState.RUNNING:
                self._state = TaskState.RUNNING
                workflow.upsert_search_attributes([sa.STATE.value_set(TaskState.RUNNING)])
            try:
                result = await self._run_step(member, prompt, number, attempt, executor, with_history)
            except ActivityError as err:
                reason = executor_loss(err)
                if reason is None or losses == MAX_EXECUTOR_LOSSES:
                    raise
                host_gone = is_host_gone(err)
                await self.note(
                    member.bot,
                    f"The sandbox running {member.bot} was lost ({reason}); running the step again in a fresh "
                    f"one (attempt {attempt + 1}).",
                    "executor_lost",
                    {"attempt": attempt, "reason": reason},
                    step=number,
                )
                await self._sandboxes.forget(executor, stop_it=not host_gone)
                attempt += 1
                continue
            if with_history and result.session_id:
                # Conversational steps keep their runtime session across turns; pipeline stages start fresh.
                self._sessions[member.bot] = result.session_id
            return result
        raise AssertionError("unreachable")

    async def _run_step(
        self, member: StepPlan, prompt: str, number: int, attempt: int, executor: ExecutorRef, with_history: bool
    ) -> StepResult:
        step = AgentStepInput(
            task_id=self.task.task_id,
            workflow_id=workflow.info().workflow_id,
            turn=self._turn,
            step=number,
            bot=member.bot,
            shell_type=member.shell_type,
            system_prompt=member.system_prompt,
            model_id=member.model_id,
            prompt=prompt,
            executor=executor,
            history=self.history if with_history else [],
            session_id=self._sessions.get(member.bot) if with_history else None,
            attempt=attempt,
            workspace=self.plan is not None and self.plan.workspace_id is not None,
            ghost_id=member.ghost_id,
            handover=applied(HOST_HANDOVER),  # older histories replay without the handover
        )
        return await run_step(step, self.task.agent_heartbeat_seconds)

    async def note(
        self, bot: str | None, content: str, kind: str, data: dict[str, Any] | None = None, step: int | None = None
    ) -> None:
        """Record a workflow message (decision, plan, notice). Without `step` it takes the next step number."""
        note = Note(
            task_id=self.task.task_id,
            turn=self._turn,
            step=self.next_step() if step is None else step,
            bot=bot,
            content=content,
            kind=kind,
            data=data or {},
        )
        await record(RECORD_NOTE, note)

    async def await_approval(self, member: StepPlan, timeout_seconds: int | None, on_timeout: str) -> Approval:
        """Wait for a person's decision on `member`'s output (workflows/approvals.py); PENDING again after."""
        approval = await self._approvals.wait(self, member, timeout_seconds, on_timeout)
        self._state = TaskState.PENDING
        return approval

    async def ensure_executor(self, member: StepPlan) -> ExecutorRef:
        workspace_id = self.plan.workspace_id if self.plan is not None else None
        return await self._sandboxes.ensure(member, workspace_id, workflow.info().workflow_id)

    async def release_executor(self) -> None:
        await self._sandboxes.release_all()

    async def set_state(self, state: str, error: str | None = None) -> None:
        self._state = state
        workflow.upsert_search_attributes([sa.STATE.value_set(state)])
        update = StateUpdate(
            task_id=self.task.task_id,
            state=state,
            turn=self._turn,
            error=error,
            current_step=self._step,
            current_bot=self._bot,
        )
        await record(UPDATE_STATE, update)
