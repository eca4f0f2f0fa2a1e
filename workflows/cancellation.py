"""No new work begins once the task's workflow is asked to cancel.

Activities we wait out on cancel (WAIT_CANCELLATION_COMPLETED: a sandbox start, an agent step) can finish
successfully after the cancel request reached the workflow: the activity had not heartbeated since. The SDK then
hands back the activity's result and the cancel is spent, so without this check the task would go on to its
next stage or wait idle for a follow-up although its user cancelled it.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows.patches import CANCEL_NOT_SWALLOWED, applied


def raise_if_cancelled() -> None:
    # Histories recorded before this check replay as they ran (a swallowed cancel let them continue).
    if workflow.cancellation_reason() is not None and applied(CANCEL_NOT_SWALLOWED):
        raise asyncio.CancelledError("the task was cancelled")
