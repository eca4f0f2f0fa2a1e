"""route: the leader picks one member (structured decision, one repair, then the default); that member answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workflows.decisions import DecisionError, Route, parse_route, repair_prompt, route_prompt
from workflows.errors import invalid_team
from workflows.models import StepPlan, TaskPlan

if TYPE_CHECKING:
    from workflows.task_workflow import TaskWorkflow


def roster(plan: TaskPlan) -> dict[str, StepPlan]:
    return {m.bot: m for m in plan.steps if m.role != "leader"}


def leader_of(plan: TaskPlan) -> StepPlan:
    for member in plan.steps:
        if member.role == "leader":
            return member
    raise invalid_team(f"team '{plan.team}' has no leader")


async def run(wf: TaskWorkflow, plan: TaskPlan, prompt: str) -> str:
    leader, members = leader_of(plan), roster(plan)
    if not members:
        raise invalid_team(f"team '{plan.team}' has no members besides its leader")
    ask = route_prompt(prompt, {name: m.system_prompt.splitlines()[0][:200] for name, m in members.items()})
    decision = await decide(wf, leader, ask, list(members))
    if decision is None:
        if not plan.default_member or plan.default_member not in members:
            raise invalid_team("the leader gave no valid routing decision and the team declares no defaultMember")
        decision = Route(member=plan.default_member, reason="fallback to the team's default member")
        kind = "route_fallback"
    else:
        kind = "route"
    await wf.note(
        leader.bot,
        f"Routed to {decision.member}: {decision.reason}",
        kind,
        {"member": decision.member, "reason": decision.reason},
    )
    result = await wf.agent_step(members[decision.member], prompt)
    return result.output


async def decide(wf: TaskWorkflow, leader: StepPlan, ask: str, members: list[str]) -> Route | None:
    answer = await wf.agent_step(leader, ask, with_history=False)
    try:
        return parse_route(answer.output, members)
    except DecisionError as err:
        repaired = await wf.agent_step(leader, repair_prompt(str(err), ask), with_history=False)
        try:
            return parse_route(repaired.output, members)
        except DecisionError:
            return None
