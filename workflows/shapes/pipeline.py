"""solo and pipeline: members in order; each stage's input from its contextPassing; optional approvals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workflows.handoff import stage_input
from workflows.models import TaskPlan

if TYPE_CHECKING:
    from workflows.task_workflow import TaskWorkflow


async def run(wf: TaskWorkflow, plan: TaskPlan, prompt: str) -> str:
    previous: str | None = None
    handoff: str | None = None
    for index, member in enumerate(plan.steps):
        text = handoff if handoff is not None else stage_input(member.context_passing, prompt, previous)
        # Each stage is a fresh session; conversation history only matters to the first stage of a turn.
        result = await wf.agent_step(member, text, with_history=index == 0)
        previous, handoff = result.output, None
        last = index == len(plan.steps) - 1
        if member.require_confirmation and not last:
            approval = await wf.await_approval(member, plan.approval_timeout_seconds, plan.approval_timeout_outcome)
            if approval.handoff is not None:
                handoff = approval.handoff
    assert previous is not None
    return previous
