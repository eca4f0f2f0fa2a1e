"""Every patch of TaskWorkflow, and when a run takes its decisions on them.

A patch's answer on replay depends on which workflow task recorded its marker: the SDK learns of a task's
markers when it replays that task. Local activities resolve on replay as soon as their markers are seen, which
can be a task ahead of the markers recorded after them: when the first workflow task was split (a plan slower
than the task heartbeat, or a query answered meanwhile), a patch first asked after the plan saw its marker
too late, replayed as absent, took the old path and failed the workflow task for ever.

From UP_FRONT on, a run asks every patch before its first await. The markers are then all in its first
workflow task, whatever splits it, and every later ``workflow.patched`` of the run returns the remembered
answer. Runs recorded before UP_FRONT still ask each patch where its code path first needs it.
"""

from __future__ import annotations

from temporalio import workflow

# The bookkeeping activities (plan, host, slot) run as local activities.
LOCAL_BOOKKEEPING = "local-bookkeeping"
# State changes and workflow notes are local activities too.
LOCAL_RECORDS = "local-records"
# A cancel that lands while a step finishes is not swallowed.
CANCEL_NOT_SWALLOWED = "cancel-not-swallowed"
# A step's run can move to another host's worker.
HOST_HANDOVER = "host-handover"
# Each turn claims its owner's running slot first.
USER_RUNNING_LIMIT = "user-running-limit"
# One sandbox per sandbox policy among the members (before: one per task, the first member's Shell).
SANDBOX_PER_POLICY = "sandbox-per-policy"
# A warm sandbox of the workflow's own worker is taken without a server round trip.
WARM_TAKE_LOCAL = "warm-take-local"
# One local activity answers the host and a warm sandbox (pick_host and the warm take were two).
WARM_TAKE_HERE = "warm-take-here"
# Every fresh sandbox gets the task's repository cloned.
WORKSPACE_CLONE = "workspace-clone"
# The run asks all of the above before its first await.
UP_FRONT = "patches-up-front"

ALL = (
    LOCAL_BOOKKEEPING,
    LOCAL_RECORDS,
    CANCEL_NOT_SWALLOWED,
    HOST_HANDOVER,
    USER_RUNNING_LIMIT,
    SANDBOX_PER_POLICY,
    WARM_TAKE_LOCAL,
    WARM_TAKE_HERE,
    WORKSPACE_CLONE,
)


def decide_up_front() -> None:
    """Call first thing in ``run``, before any await. The SDK remembers each answer for the rest of the run."""
    if workflow.patched(UP_FRONT):
        for patch in ALL:
            workflow.patched(patch)
