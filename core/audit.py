"""The audit trail: every resource write, task action, account and key change, and every sign-in.

`record` adds the entry to the caller's session without committing, so it lands in the same transaction as
the change it describes (a rolled-back apply leaves no entry). Actions are `area.verb`, e.g. `resource.update`,
`task.cancel`, `user.disable`, `auth.login_failed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import AuditEntry, User


def record(
    db: Session,
    actor: User | None,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
    actor_name: str | None = None,
) -> None:
    db.add(
        AuditEntry(
            user_id=actor.id if actor is not None else None,
            actor=actor.username if actor is not None else actor_name,
            action=action[:32],
            target=target[:255],
            detail=detail or None,
            address=address[:64] if address else None,
        )
    )


@dataclass
class AuditQuery:
    actor: str | None = None  # username
    action: str | None = None  # exact, or a prefix ending in "." (e.g. "task.")
    target: str | None = None  # substring
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


def search(db: Session, query: AuditQuery, only_user_id: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Newest first; ``only_user_id`` limits to one account's own entries (what a non-admin may see)."""
    stmt = select(AuditEntry)
    if only_user_id is not None:
        stmt = stmt.where(AuditEntry.user_id == only_user_id)
    if query.actor:
        stmt = stmt.where(AuditEntry.actor == query.actor)
    if query.action:
        if query.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(query.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == query.action)
    if query.target:
        stmt = stmt.where(AuditEntry.target.contains(query.target, autoescape=True))
    if query.since:
        stmt = stmt.where(AuditEntry.at >= query.since)
    if query.until:
        stmt = stmt.where(AuditEntry.at < query.until)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(query.limit).offset(query.offset))
    return [
        {
            "id": row.id,
            "at": row.at.isoformat() + "Z",
            "actor": row.actor,
            "userId": row.user_id,
            "action": row.action,
            "target": row.target,
            "address": row.address,
            "detail": row.detail or {},
        }
        for row in rows
    ], total
