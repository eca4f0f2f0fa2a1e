"""One module per collaboration model; each runs one turn and returns the turn's final answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workflows.errors import invalid_team
from workflows.models import TaskPlan
from workflows.shapes import collaborate, coordinate, pipeline, route

if TYPE_CHECKING:
    from workflows.task_workflow import TaskWorkflow

SHAPES = {
    "solo": pipeline.run,
    "pipeline": pipeline.run,
    "route": route.run,
    "coordinate": coordinate.run,
    "collaborate": collaborate.run,
}


async def run_turn(wf: TaskWorkflow, plan: TaskPlan, prompt: str) -> str:
    shape = SHAPES.get(plan.collaboration_model)
    if shape is None:
        raise invalid_team(f"unknown collaboration model '{plan.collaboration_model}'")
    return await shape(wf, plan, prompt)
