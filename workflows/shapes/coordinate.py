"""coordinate: the leader plans sub-tasks for named members; they run in parallel; the leader aggregates."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from temporalio.exceptions import ApplicationError

from workflows.decisions import DecisionError, Subtask, aggregate_prompt, parse_plan, plan_prompt, repair_prompt
from workflows.errors import invalid_team, is_cancellation, root_message
from workflows.models import StepResult, TaskPlan
from workflows.shapes.route import leader_of, roster

if TYPE_CHECKING:
    from workflows.task_workflow import TaskWorkflow


async def run(wf: TaskWorkflow, plan: TaskPlan, prompt: str) -> str:
    leader, members = leader_of(plan), roster(plan)
    ask = plan_prompt(prompt, {name: m.system_prompt.splitlines()[0][:200] for name, m in members.items()})
    subtasks = await _plan(wf, leader, ask, list(members))
    await wf.note(
        leader.bot,
        "Plan:\n" + "\n".join(f"- {s.member}: {s.task}" for s in subtasks),
        "plan",
        {"subtasks": [{"member": s.member, "task": s.task} for s in subtasks]},
    )
    steps = [wf.next_step() for _ in subtasks]  # numbered up front: parallel steps keep a stable order
    outcomes = await asyncio.gather(
        *(
            wf.agent_step(members[s.member], s.task, with_history=False, step=n)
            for s, n in zip(subtasks, steps, strict=True)
        ),
        return_exceptions=True,
    )
    results: list[tuple[str, str, str | None]] = []
    failures: list[str] = []
    for sub, outcome in zip(subtasks, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if is_cancellation(outcome) or isinstance(outcome, asyncio.CancelledError):
                raise outcome
            failures.append(f"{sub.member}: {root_message(outcome)}")
            results.append((sub.member, sub.task, None))
        else:
            assert isinstance(outcome, StepResult)
            results.append((sub.member, sub.task, outcome.output))
    if failures:
        await wf.note(
            leader.bot, "Some sub-tasks failed:\n" + "\n".join(failures), "subtask_failures", {"failures": failures}
        )
        if plan.fail_on_subtask_error:
            raise ApplicationError("sub-tasks failed: " + "; ".join(failures), type="SubtaskFailed", non_retryable=True)
    final = await wf.agent_step(leader, aggregate_prompt(prompt, results))
    return final.output


async def _plan(wf: TaskWorkflow, leader, ask: str, members: list[str]) -> list[Subtask]:  # type: ignore[no-untyped-def]
    answer = await wf.agent_step(leader, ask, with_history=False)
    try:
        return parse_plan(answer.output, members)
    except DecisionError as err:
        repaired = await wf.agent_step(leader, repair_prompt(str(err), ask), with_history=False)
        try:
            return parse_plan(repaired.output, members)
        except DecisionError as again:
            raise invalid_team(f"the leader gave no valid plan: {again}") from again
