"""Short database steps on the way to a task's first model call, run as local activities.

Each ordinary activity is a round trip through the Temporal server (schedule, match to a poller, complete, a
new workflow task), about 15-50 ms each on a small host, paid before the first token for the plan, the
owner's slot and the host choice. As local activities they run inside the workflow task on the worker that
holds the workflow (which registers them too), their results recorded in the history as markers: same retries
and timeouts, no round trips. Histories recorded before this replay with ordinary activities (patch marker).
The task's state changes and the workflow's notes followed (``record``, a patch of their own): one round trip
fewer at the end of every turn, at each approval wait and for every route, plan or round note.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow

from workflows.activity_names import PICK_HOST
from workflows.patches import LOCAL_BOOKKEEPING, LOCAL_RECORDS, applied
from workflows.policies import DB_RETRY

T = TypeVar("T")


async def db_step(name: str, arg: Any, result_type: type[T], timeout_s: float = 30.0) -> T:
    """Run the bookkeeping activity ``name`` locally when this workflow run began with the patch."""
    timeout = timedelta(seconds=timeout_s)
    if applied(LOCAL_BOOKKEEPING):
        return await workflow.execute_local_activity(
            name, arg, result_type=result_type, start_to_close_timeout=timeout, retry_policy=DB_RETRY
        )
    return await workflow.execute_activity(
        name, arg, result_type=result_type, start_to_close_timeout=timeout, retry_policy=DB_RETRY
    )


async def pick_host() -> str:
    """The host whose queue gets the sandbox. Locally: the host of the worker running this workflow task,
    which is what any worker taking `pick_host` from the shared queue offered anyway."""
    if applied(LOCAL_BOOKKEEPING):
        return await workflow.execute_local_activity(
            PICK_HOST, result_type=str, start_to_close_timeout=timedelta(seconds=10), retry_policy=DB_RETRY
        )
    return await workflow.execute_activity(
        PICK_HOST, start_to_close_timeout=timedelta(seconds=10), retry_policy=DB_RETRY, result_type=str
    )


async def record(name: str, arg: Any) -> None:
    """Write a state change or a note (``name``) from the workflow: locally in runs that began with the patch."""
    timeout = timedelta(seconds=30)
    if applied(LOCAL_RECORDS):
        await workflow.execute_local_activity(name, arg, start_to_close_timeout=timeout, retry_policy=DB_RETRY)
    else:
        await workflow.execute_activity(name, arg, start_to_close_timeout=timeout, retry_policy=DB_RETRY)
