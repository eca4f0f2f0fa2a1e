"""A new task's plan and its first warm sandbox in one local activity (patch ``plan-with-take``).

On the way to a new task's first token the workflow read its plan, then took a warm sandbox of its own host:
two local activities, with a workflow activation between them. When the plan settles which sandbox the first
step needs (workflows.sandboxes.first_sandbox_request) and the turn may start at once, this activity takes that
sandbox right after reading the plan, and the workflow adopts it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from wegent.logging import get_logger
from workflows import activity_names
from workflows.models import PlannedTake, PlanRequest, StartExecutorInput, TaskPlan, WarmTake
from workflows.sandboxes import first_sandbox_request

log = get_logger("activities.plan_with_take")


class PlanWithTake:
    def __init__(
        self,
        resolve: Callable[[PlanRequest], Awaitable[TaskPlan]],
        take: Callable[[StartExecutorInput], Awaitable[WarmTake]],
    ) -> None:
        # The take is the worker's admitted one (worker.admission), so the early take counts like any other.
        self._resolve, self._take = resolve, take

    @activity.defn(name=activity_names.RESOLVE_PLAN_AND_TAKE)
    async def resolve_plan_and_take(self, request: PlanRequest) -> PlannedTake:
        plan = await self._resolve(request)
        first = first_sandbox_request(plan, activity.info().workflow_id)
        if first is None:
            return PlannedTake(plan=plan)
        try:
            taken = await self._take(first)
        except Exception as exc:  # noqa: BLE001 - a failed take is no take: the first step starts a sandbox
            log.warning("executor.warm_take_failed", task_id=plan.task_id, error=str(exc))
            return PlannedTake(plan=plan)
        return PlannedTake(plan=plan, take=taken)
