"""Per-user running limits, workflow side: a turn waits for its owner's slot before any agent work."""

from __future__ import annotations

from temporalio import workflow

from workflows.activity_names import CLAIM_SLOT
from workflows.bookkeeping import db_step
from workflows.models import SlotClaim, SlotRequest


async def wait_for_slot(task_id: int, turn: int) -> None:
    """Hold the turn, visibly PENDING with the reason, while its owner runs as many tasks as allowed."""
    delay = 1.0
    while True:
        claim = await db_step(CLAIM_SLOT, SlotRequest(task_id=task_id, turn=turn), SlotClaim)
        if claim.claimed:
            return
        await workflow.sleep(delay)
        delay = min(delay * 2, 15.0)  # a long wait costs a few history events a minute, not hundreds
