"""The workflow sandbox of a worker: Wegent's workflow helper modules are imported once, not once per run.

Temporal's sandbox imports a workflow's modules afresh for every workflow run it starts, so that no run sees
module state another run left. Our data classes, retry policies, error helpers, search attribute keys, prompt
parsers, collaboration shapes and step helpers hold no module state that changes, and re-running their imports
for every task cost about a third of a worker's CPU at a burst of tasks (profiled with py-spy: the data
classes of `workflows.models` alone were half of it). They are passed through; the shapes and helpers call the
workflow API, which finds the calling run by itself. The workflow classes, which hold a run's state, stay
sandboxed, and the replay tests in tests/workflows still check the whole.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

#: Modules with no mutable module state and no I/O at import (they import the standard library, temporalio and
#: each other).
PASSED_THROUGH = (
    "workflows.models",
    "workflows.errors",
    "workflows.policies",
    "workflows.decisions",
    "workflows.handoff",
    "workflows.shapes",
    "workflows.slots",
    "workflows.bookkeeping",
    "workflows.step_runs",
    "workflows.approvals",
    "workflows.sandboxes",
    "workflows.cancellation",
    "workflows.activity_names",
    "wegent.temporal.search_attributes",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
