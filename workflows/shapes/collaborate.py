"""collaborate: members speak in turns in a shared transcript; after each round the leader decides; it sums up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workflows.decisions import (
    DecisionError,
    parse_verdict,
    repair_prompt,
    summary_prompt,
    transcript_prompt,
    verdict_prompt,
)
from workflows.models import TaskPlan
from workflows.shapes.route import leader_of, roster

if TYPE_CHECKING:
    from workflows.task_workflow import TaskWorkflow


async def run(wf: TaskWorkflow, plan: TaskPlan, prompt: str) -> str:
    leader, members = leader_of(plan), roster(plan)
    transcript: list[tuple[str, str]] = []
    for round_no in range(1, plan.max_rounds + 1):
        for name, member in members.items():
            said = await wf.agent_step(member, transcript_prompt(prompt, transcript, name), with_history=False)
            transcript.append((name, said.output))
        if round_no == plan.max_rounds:
            await wf.note(leader.bot, f"Round limit ({plan.max_rounds}) reached.", "round_limit", {"round": round_no})
            break
        ask = verdict_prompt(prompt, transcript, round_no, plan.max_rounds)
        answer = await wf.agent_step(leader, ask, with_history=False)
        try:
            verdict = parse_verdict(answer.output)
        except DecisionError as err:
            repaired = await wf.agent_step(leader, repair_prompt(str(err), ask), with_history=False)
            try:
                verdict = parse_verdict(repaired.output)
            except DecisionError:
                verdict = None
        if verdict is None:
            await wf.note(
                leader.bot, "No valid verdict from the leader: continuing.", "verdict_invalid", {"round": round_no}
            )
            continue
        await wf.note(
            leader.bot,
            f"Round {round_no}: {'done' if verdict.done else 'continue'} — {verdict.reason}",
            "verdict",
            {"round": round_no, "done": verdict.done, "reason": verdict.reason},
        )
        if verdict.done:
            break
    final = await wf.agent_step(leader, summary_prompt(prompt, transcript))
    return final.output
