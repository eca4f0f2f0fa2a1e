"""The audit trail: admins see everyone's entries with filters; every user sees their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import MAX_OFFSET, AdminUser, CurrentUser
from core.audit import AuditQuery, search
from core.db.session import get_sessionmaker

router = APIRouter(tags=["audit"])


class AuditEntryPublic(BaseModel):
    id: int
    at: str
    actor: str | None
    userId: int | None
    action: str
    target: str
    address: str | None
    detail: dict[str, Any]


class AuditListPublic(BaseModel):
    items: list[AuditEntryPublic]
    total: int


def _query(
    actor: Annotated[str | None, Query(max_length=64, description="username")] = None,
    action: Annotated[str | None, Query(max_length=32, description="exact, or a prefix ending in '.'")] = None,
    target: Annotated[str | None, Query(max_length=255, description="substring, e.g. 'task/42'")] = None,
    since: Annotated[datetime | None, Query(description="ISO time, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO time, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AuditQuery:
    def naive_utc(value: datetime | None) -> datetime | None:
        # Stored times are naive UTC; a query may give any offset.
        return value.astimezone(UTC).replace(tzinfo=None) if value and value.tzinfo else value

    return AuditQuery(actor, action, target, naive_utc(since), naive_utc(until), limit, offset)


async def _search(query: AuditQuery, only_user_id: int | None) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        with get_sessionmaker()() as db:
            items, total = search(db, query, only_user_id)
        return {"items": items, "total": total}

    return await run_in_threadpool(read)


@router.get("/admin/audit", response_model=AuditListPublic)
async def all_entries(_: AdminUser, query: Annotated[AuditQuery, Depends(_query)]) -> dict[str, Any]:
    return await _search(query, None)


@router.get("/users/me/audit", response_model=AuditListPublic)
async def my_entries(user: CurrentUser, query: Annotated[AuditQuery, Depends(_query)]) -> dict[str, Any]:
    return await _search(query, user.id)
