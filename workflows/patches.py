"""Every patch of TaskWorkflow, and when a run takes its decisions on them.

A patch's answer on replay depends on which workflow task recorded its marker: the SDK learns of a task's
markers when it replays that task. Local activities resolve on replay as soon as their markers are seen, which
can be a task ahead of the markers recorded after them: when the first workflow task was split (a plan slower
than the task heartbeat, or a query answered meanwhile), a patch first asked after the plan saw its marker
too late, replayed as absent, took the old path and failed the workflow task for ever.

From UP_FRONT on, a run asks that one patch first thing in ``run``, before any await, so its marker is in the
run's first workflow task whatever splits it. A run with UP_FRONT has every patch below: ``applied`` answers
yes without asking them, and the run records one marker (and one search-attribute update) instead of one per
patch. Runs recorded before UP_FRONT still ask each patch where their code path first needs it. A later change
gets an id of its own (in SINCE_UP_FRONT) and a new level marker that stands for it and everything before, so a
new run still records one marker, in its first task.
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
# The run has all of the above, decided before its first await.
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

# Since UP_FRONT: a new turn whose slot is claimed takes its warm sandbox in the plan's local activity.
PLAN_WITH_TAKE = "plan-with-take"
# The run has every patch above and every one of SINCE_UP_FRONT: still one marker per run.
UP_FRONT_2 = "patches-up-front-2"

SINCE_UP_FRONT = (PLAN_WITH_TAKE,)


_LEVEL_ATTRIBUTE = "_wegent_patches_up_front"


def decide_up_front() -> None:
    """Call first thing in ``run``, before any await. A run records the newest level's marker only; one recorded
    before it replays with the level its marker says (none: each patch as its own marker says)."""
    level = 2 if workflow.patched(UP_FRONT_2) else 1 if workflow.patched(UP_FRONT) else 0
    setattr(workflow.instance(), _LEVEL_ATTRIBUTE, level)


def applied(patch: str) -> bool:
    """Whether this run has ``patch``: a patch of ALL from UP_FRONT on, one of SINCE_UP_FRONT from UP_FRONT_2 on;
    before UP_FRONT, as the patch's own marker says where the code path first needs it."""
    level = getattr(workflow.instance(), _LEVEL_ATTRIBUTE, 0)
    if patch in SINCE_UP_FRONT:
        return level >= 2
    if patch not in ALL:
        raise ValueError(f"unknown patch {patch!r}: list it in workflows/patches.py")
    if level >= 1:
        return True
    return workflow.patched(patch)
