"""Where a PENDING task stands in the queue: one order for the task views and for GET /admin/executors.

The queue is every PENDING task, oldest first (ties by id): tasks waiting for an agent slot on their host, for
their owner's running-task limit, or not yet picked up. A task's position is 1 + the number of PENDING tasks
(of all users) created before it, so a user sees how many tasks are ahead of theirs, not whose they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Task
from workflows.models import TaskState


def pending_in_order(db: Session) -> list[int]:
    """Ids of every PENDING task, first in line first."""
    query = select(Task.id).where(Task.state == TaskState.PENDING).order_by(Task.created_at, Task.id)
    return list(db.scalars(query))


def queue_positions(db: Session, tasks: Iterable[Task]) -> dict[int, int]:
    """Task id -> position (1-based) for the PENDING ones among ``tasks``; one query, only when one is PENDING."""
    wanted = {task.id for task in tasks if task.state == TaskState.PENDING}
    if not wanted:
        return {}
    return {task_id: rank for rank, task_id in enumerate(pending_in_order(db), start=1) if task_id in wanted}
