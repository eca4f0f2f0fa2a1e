"""The name of every activity the workflows call: the one place both sides of the contract read.

Workflows call activities by these names (importing the activity code would pull its I/O into the workflow
sandbox); the implementations in `activities/` register under the same constants, and
`tests/workflows/test_activity_contracts.py` checks that the two sets are equal.
"""

from __future__ import annotations

RESOLVE_PLAN = "resolve_plan"
RESOLVE_PLAN_AND_TAKE = "resolve_plan_and_take"
UPDATE_STATE = "update_task_state"
RECORD_NOTE = "record_note"
CLAIM_SLOT = "claim_user_slot"
PICK_HOST = "pick_host"
START_EXECUTOR = "start_executor"
TAKE_WARM_EXECUTOR = "take_warm_executor"
TAKE_WARM_HERE = "take_warm_executor_here"
STOP_EXECUTOR = "stop_executor"
PREPARE_WORKSPACE = "prepare_workspace"
RUN_AGENT_STEP = "run_agent_step"
CREATE_SCHEDULED_TASK = "create_scheduled_task"
LIST_EXECUTOR_HOSTS = "list_executor_hosts"
REAP_HOST = "reap_host"
RECONCILE_TASKS = "reconcile_tasks"

ALL = frozenset(
    {
        RESOLVE_PLAN,
        RESOLVE_PLAN_AND_TAKE,
        UPDATE_STATE,
        RECORD_NOTE,
        CLAIM_SLOT,
        PICK_HOST,
        START_EXECUTOR,
        TAKE_WARM_EXECUTOR,
        TAKE_WARM_HERE,
        STOP_EXECUTOR,
        PREPARE_WORKSPACE,
        RUN_AGENT_STEP,
        CREATE_SCHEDULED_TASK,
        LIST_EXECUTOR_HOSTS,
        REAP_HOST,
        RECONCILE_TASKS,
    }
)
