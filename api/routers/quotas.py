"""Monthly budgets: each user sees theirs against what they used; admins set them per user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from api.deps import AdminUser, CurrentUser, SessionDep
from core import audit
from core.db.models import User
from core.quotas import budget_of, running_of, view

router = APIRouter(tags=["quotas"])


class UsedOfLimit(BaseModel):
    used: float
    limit: float | None = Field(description="null: no limit")


class QuotaPublic(BaseModel):
    tokens: UsedOfLimit
    cost: UsedOfLimit
    runningTasks: UsedOfLimit
    resetsAt: str
    exceeded: str | None = Field(description="why no new work may start this month, if so")


class QuotaIn(BaseModel):
    """Per-user budgets; null falls back to the deployment's default, 0 means none at all."""

    monthlyTokens: int | None = Field(None, ge=0)
    monthlyCost: float | None = Field(None, ge=0)
    maxRunningTasks: int | None = Field(None, ge=0, description="tasks running at once; the rest wait as PENDING")


@router.get("/users/me/quota", response_model=QuotaPublic)
def my_quota(db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return view(budget_of(db, user), running_of(db, user.id))


@router.get("/admin/users/{user_id}/quota", response_model=QuotaPublic)
def user_quota(user_id: int, db: SessionDep, _: AdminUser) -> dict[str, Any]:
    return view(budget_of(db, _account(db, user_id)), running_of(db, user_id))


@router.put("/admin/users/{user_id}/quota", response_model=QuotaPublic)
def set_user_quota(user_id: int, body: QuotaIn, db: SessionDep, admin: AdminUser) -> dict[str, Any]:
    user = _account(db, user_id)
    user.monthly_token_budget = body.monthlyTokens
    user.monthly_cost_budget = body.monthlyCost
    user.max_running_tasks = body.maxRunningTasks
    audit.record(db, admin, "user.quota", f"user/{user.username}", body.model_dump())
    db.commit()
    return view(budget_of(db, user), running_of(db, user.id))


def _account(db: SessionDep, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None or user.role == "system":
        raise HTTPException(404, f"user {user_id} not found")
    return user
