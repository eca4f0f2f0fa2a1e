"""The approval gate of a pipeline stage: the task waits in PENDING_CONFIRMATION until a person approves or rejects.

The gate holds what the `approve` and `reject` updates decide and what their validators check, and the wait
itself. The workflow owns the updates (Temporal registers them on the workflow class) and hands them to the gate.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.errors import TaskRejected
from workflows.models import Approval, Rejection, StepPlan, TaskState

if TYPE_CHECKING:
    from workflows.task_workflow import TaskWorkflow


class ApprovalGate:
    """Which bot's output waits for a decision (None when nothing waits), and the decision once it came."""

    def __init__(self) -> None:
        self.awaiting: str | None = None
        self.decision: Approval | Rejection | None = None

    def require_waiting(self, state: str) -> None:
        """The validator of both updates: a decision is accepted once, and only while a stage waits."""
        if self.awaiting is None or self.decision is not None:
            raise ApplicationError(f"the task is not waiting for approval (it is {state})")

    def decide(self, decision: Approval | Rejection) -> None:
        self.decision = decision

    async def wait(self, wf: TaskWorkflow, member: StepPlan, timeout_seconds: int | None, on_timeout: str) -> Approval:
        """PENDING_CONFIRMATION until a person decides; the executor is released meanwhile (waiting is free).

        A rejection ends the task (TaskRejected); without a decision in time, `on_timeout` decides.
        """
        self.awaiting = member.bot
        self.decision = None
        await wf.set_state(TaskState.PENDING_CONFIRMATION)
        await wf.release_executor()
        try:
            if timeout_seconds:
                await workflow.wait_condition(
                    lambda: self.decision is not None, timeout=timedelta(seconds=timeout_seconds)
                )
            else:
                await workflow.wait_condition(lambda: self.decision is not None)
        except TimeoutError:
            if on_timeout == "approve":
                self.decision = Approval()
                await wf.note(
                    None,
                    f"No decision within {timeout_seconds}s: approved automatically.",
                    "approval_timeout",
                    {"outcome": "approve"},
                )
            else:
                self.decision = Rejection(reason=f"no decision within {timeout_seconds}s")
        decision, self.awaiting = self.decision, None
        if isinstance(decision, Rejection):
            raise TaskRejected(decision.reason)
        assert decision is not None
        return decision
