"""The workflow sandbox of a worker: Wegent's pure workflow modules are imported once, not once per run.

Temporal's sandbox imports a workflow's modules afresh for every workflow run it starts, so that no run sees
module state another run left. Our data classes, retry policies, error helpers, search attribute keys and
prompt parsers hold no module state that changes, and re-running their imports for every task cost about a
third of a worker's CPU at a burst of tasks (profiled: the data classes of `workflows.models` alone). They are
passed through; the workflow classes and the collaboration shapes, which hold the run's logic, stay sandboxed,
and the replay tests in tests/workflows still check the whole.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

#: Modules with no mutable module state and no I/O (imports only the standard library and temporalio).
PASSED_THROUGH = (
    "workflows.models",
    "workflows.errors",
    "workflows.policies",
    "wegent.temporal.search_attributes",
    "workflows.decisions",
    "workflows.handoff",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
