"""Tasks: their rows, their workflow calls and their views; `core.tasks.operations` acts on them, and
`core.tasks.records` is what the worker writes while a task runs."""

from core.tasks.rows import create_task_row, list_tasks, scoped_task
from core.tasks.views import message_view, step_view, task_detail, task_summary
from core.tasks.workflow_calls import cancel_workflow, search_attributes, start_workflow, task_input
from wegent.temporal.client import workflow_id_for

__all__ = [
    "cancel_workflow",
    "create_task_row",
    "list_tasks",
    "message_view",
    "scoped_task",
    "search_attributes",
    "start_workflow",
    "step_view",
    "task_detail",
    "task_input",
    "task_summary",
    "workflow_id_for",
]
