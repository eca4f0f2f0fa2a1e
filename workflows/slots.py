"""Per-user running limits, workflow side: a turn waits for its owner's slot before any agent work."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.models import SlotClaim, SlotRequest
from workflows.policies import DB_RETRY

CLAIM_SLOT = "claim_user_slot"


async def wait_for_slot(task_id: int, turn: int) -> None:
    """Hold the turn, visibly PENDING with the reason, while its owner runs as many tasks as allowed."""
    delay = 1.0
    while True:
        claim = await workflow.execute_activity(
            CLAIM_SLOT,
            SlotRequest(task_id=task_id, turn=turn),
            result_type=SlotClaim,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )
        if claim.claimed:
            return
        await workflow.sleep(delay)
        delay = min(delay * 2, 15.0)  # a long wait costs a few history events a minute, not hundreds
