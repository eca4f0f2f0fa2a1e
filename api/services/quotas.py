"""Monthly budgets per user: tokens (in + out) and cost, per calendar month in UTC.

Checked where work starts: a new task, a follow-up or a retry is refused with 429 naming the limit, and each
agent step checks again before it calls the model, so a task that crosses its owner's budget stops at its next
step with a clear error. (Stopping a model call mid-stream needs the model gateway, which counts tokens as
they flow.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db.models import Message, Task, User, utcnow
from wegent.config import get_settings


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


def budget_of(db: Session, user: User) -> Budget:
    # The caller's User may be a cached principal without these columns: read the limits fresh.
    budgets = db.execute(
        select(User.monthly_token_budget, User.monthly_cost_budget).where(User.id == user.id)
    ).one_or_none()
    token_budget, cost_budget = budgets if budgets is not None else (None, None)
    settings = get_settings()
    start, end = month_bounds(utcnow())
    tokens, cost = db.execute(
        select(
            func.coalesce(func.sum(Message.input_tokens + Message.output_tokens), 0),
            func.coalesce(func.sum(Message.cost), 0.0),
        )
        .join(Task, Task.id == Message.task_id)
        .where(Task.owner_id == user.id, Message.created_at >= start, Message.created_at < end)
    ).one()
    token_limit = token_budget if token_budget is not None else settings.default_monthly_tokens
    cost_limit = cost_budget if cost_budget is not None else settings.default_monthly_cost
    return Budget(
        tokens_used=int(tokens),
        tokens_limit=token_limit or None,
        cost_used=float(cost),
        cost_limit=cost_limit or None,
        resets_at=end,
    )


def view(budget: Budget) -> dict[str, object]:
    return {
        "tokens": {"used": budget.tokens_used, "limit": budget.tokens_limit},
        "cost": {"used": round(budget.cost_used, 6), "limit": budget.cost_limit},
        "resetsAt": budget.resets_at.isoformat() + "Z",
        "exceeded": budget.exceeded(),
    }


def refusal(db: Session, user: User) -> str | None:
    """Why ``user`` may start no more work this month (admins and the system account included), or None."""
    return budget_of(db, user).exceeded()


def refusal_for_task(db: Session, task_id: int) -> str | None:
    task = db.get(Task, task_id)
    owner = db.get(User, task.owner_id) if task is not None else None
    return refusal(db, owner) if owner is not None else None
