"""Monthly budgets per user: tokens (in + out) and cost, per calendar month in UTC.

Checked where work starts: a new task, a follow-up or a retry is refused with 429 naming the limit; each agent
step checks again before it calls the model, and the model gateway (activities/gateway/) refuses a call over
budget and closes a stream as it crosses the budget, so the step fails with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db.models import Message, Task, User, utcnow
from wegent.config import get_settings
from workflows.models import TaskState


@dataclass
class Budget:
    tokens_used: int
    tokens_limit: int | None  # None: no limit
    cost_used: float
    cost_limit: float | None
    resets_at: datetime

    def exceeded(self) -> str | None:
        """Why no more work may start this month, or None."""
        when = self.resets_at.date().isoformat()
        if self.tokens_limit is not None and self.tokens_used >= self.tokens_limit:
            return f"monthly token budget of {self.tokens_limit} reached ({self.tokens_used} used); it renews on {when}"
        if self.cost_limit is not None and self.cost_used >= self.cost_limit:
            return (
                f"monthly cost budget of {self.cost_limit:g} reached ({self.cost_used:.6f} used); it renews on {when}"
            )
        return None


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def _limits(db: Session, user: User) -> tuple[int | None, float | None]:
    """The user's monthly token and cost limits (None: no limit)."""
    if user in db:  # a row this session read: its limits came with it
        token_budget, cost_budget = user.monthly_token_budget, user.monthly_cost_budget
    else:
        # The caller's User may be a cached principal without these columns: read the limits fresh.
        budgets = db.execute(
            select(User.monthly_token_budget, User.monthly_cost_budget).where(User.id == user.id)
        ).one_or_none()
        token_budget, cost_budget = budgets if budgets is not None else (None, None)
    settings = get_settings()
    token_limit = token_budget if token_budget is not None else settings.default_monthly_tokens
    cost_limit = cost_budget if cost_budget is not None else settings.default_monthly_cost
    return token_limit or None, cost_limit or None


def budget_of(db: Session, user: User) -> Budget:
    return _with_usage(db, user, *_limits(db, user))


def limited_budget(db: Session, user: User) -> Budget | None:
    """The user's budget, or None without any limit: then this month's usage is not summed (on every task, step
    and model call that sum grows with the month's messages)."""
    token_limit, cost_limit = _limits(db, user)
    if token_limit is None and cost_limit is None:
        return None
    return _with_usage(db, user, token_limit, cost_limit)


def _with_usage(db: Session, user: User, token_limit: int | None, cost_limit: float | None) -> Budget:
    start, end = month_bounds(utcnow())
    tokens, cost = db.execute(
        select(
            func.coalesce(func.sum(Message.input_tokens + Message.output_tokens), 0),
            func.coalesce(func.sum(Message.cost), 0.0),
        )
        .join(Task, Task.id == Message.task_id)
        .where(Task.owner_id == user.id, Message.created_at >= start, Message.created_at < end)
    ).one()
    return Budget(
        tokens_used=int(tokens), tokens_limit=token_limit, cost_used=float(cost), cost_limit=cost_limit, resets_at=end
    )


def running_of(db: Session, user_id: int) -> tuple[int, int | None]:
    """How many of the user's tasks run now, and their limit (None: no limit)."""
    running = db.scalar(
        select(func.count()).select_from(Task).where(Task.owner_id == user_id, Task.state == TaskState.RUNNING)
    )
    return int(running or 0), running_limit(db, user_id)


def view(budget: Budget, running: tuple[int, int | None]) -> dict[str, object]:
    return {
        "tokens": {"used": budget.tokens_used, "limit": budget.tokens_limit},
        "cost": {"used": round(budget.cost_used, 6), "limit": budget.cost_limit},
        "runningTasks": {"used": running[0], "limit": running[1]},
        "resetsAt": budget.resets_at.isoformat() + "Z",
        "exceeded": budget.exceeded(),
    }


def refusal(db: Session, user: User) -> str | None:
    """Why ``user`` may start no more work this month (admins and the system account included), or None."""
    budget = limited_budget(db, user)
    return budget.exceeded() if budget is not None else None


def refusal_for_task(db: Session, task_id: int) -> str | None:
    task = db.get(Task, task_id)
    owner = db.get(User, task.owner_id) if task is not None else None
    return refusal(db, owner) if owner is not None else None


def running_limit(db: Session, user_id: int) -> int | None:
    owner = db.get(User, user_id)  # no query when this session read the owner already (the budget check did)
    limit = owner.max_running_tasks if owner is not None else None
    limit = get_settings().default_max_running_tasks if limit is None else limit
    return limit or None


def claim_slot(db: Session, task_id: int) -> str | None:
    """Let the task run now (it becomes RUNNING) if its owner has fewer running tasks than their limit.

    Returns None when it may run, else why it waits. The owner's row is locked for the count and the claim, so
    two tasks of one user never both take the last slot; the caller's commit (or rollback) ends that lock, and
    may carry the caller's own writes (the API's follow-up commits the new turn and its claim at once).
    """
    task = db.get(Task, task_id)
    if task is None or task.state in TaskState.TERMINAL:
        return None  # nothing to hold back: the workflow finds out on its own
    limit = running_limit(db, task.owner_id)
    if limit is None:
        return None
    db.execute(select(User.id).where(User.id == task.owner_id).with_for_update())
    running = (
        db.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.owner_id == task.owner_id, Task.state == TaskState.RUNNING, Task.id != task_id)
        )
        or 0
    )
    if running >= limit:
        return f"waiting for a slot: {running} of your tasks are running (your limit is {limit})"
    db.execute(update(Task).where(Task.id == task_id).values(state=TaskState.RUNNING, error=None, updated_at=utcnow()))
    return None


def claim_slot_and_commit(db: Session, task_id: int) -> str | None:
    """claim_slot, then commit: the claim with whatever the session wrote before, and the end of the lock."""
    reason = claim_slot(db, task_id)
    db.commit()
    return reason
