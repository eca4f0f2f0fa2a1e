"""Token usage and cost: per user (with a per-team breakdown), and for admins across users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import AdminUser, CurrentUser, SessionDep
from api.models_public import UsageReportPublic
from core.db.models import Task, User

router = APIRouter(tags=["usage"])


def _totals(db: Session, owner_id: int | None, since: datetime | None) -> dict[str, Any]:
    query = select(
        Task.team_namespace,
        Task.team_name,
        func.count(Task.id),
        func.coalesce(func.sum(Task.input_tokens), 0),
        func.coalesce(func.sum(Task.output_tokens), 0),
        func.coalesce(func.sum(Task.cost), 0.0),
    ).group_by(Task.team_namespace, Task.team_name)
    if owner_id is not None:
        query = query.where(Task.owner_id == owner_id)
    if since is not None:
        query = query.where(Task.created_at >= since)
    teams = [
        {
            "team": {"namespace": ns, "name": name},
            "tasks": count,
            "inputTokens": int(tin),
            "outputTokens": int(tout),
            "cost": float(cost),
        }
        for ns, name, count, tin, tout, cost in db.execute(query.order_by(Task.team_namespace, Task.team_name))
    ]
    return {
        "tasks": sum(t["tasks"] for t in teams),
        "inputTokens": sum(t["inputTokens"] for t in teams),
        "outputTokens": sum(t["outputTokens"] for t in teams),
        "cost": round(sum(t["cost"] for t in teams), 8),
        "byTeam": teams,
    }


@router.get("/users/me/usage", response_model=UsageReportPublic)
def my_usage(
    db: SessionDep, user: CurrentUser, since: Annotated[datetime | None, Query(description="ISO 8601")] = None
) -> dict[str, Any]:
    return {"user": user.username, **_totals(db, user.id, since)}


@router.get("/admin/usage", response_model=list[UsageReportPublic])
def all_usage(
    db: SessionDep, _: AdminUser, since: Annotated[datetime | None, Query(description="ISO 8601")] = None
) -> list[dict[str, Any]]:
    users = db.scalars(select(User).where(User.role != "system").order_by(User.id))
    return [{"user": u.username, **_totals(db, u.id, since)} for u in users]
