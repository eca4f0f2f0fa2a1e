"""Owner generations: ``users.resource_generation`` moves whenever a resource of that owner changes.

A per-process LIST cache (:mod:`api.services.list_cache`) stays correct across API processes by comparing
generations read from the database. Every ORM flush that creates, changes or deletes a Resource bumps its
owner's counter in the same transaction (a ``before_flush`` hook on every Session); the few Core statements
that write resources directly call :func:`bump` themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, event, or_, select, update
from sqlalchemy.orm import Session

from core.db.models import Resource, User

Generations = tuple[tuple[int, int], ...]


def bump(conn: Connection, owners: Iterable[int] | ColumnElement[Any]) -> None:
    """Advance the generation of ``owners`` (ids, or a SQL expression yielding one id)."""
    if isinstance(owners, ColumnElement):
        where = User.id == owners
    else:
        ids = sorted(set(owners))  # a fixed order: concurrent bumps lock the rows in the same order
        if not ids:
            return
        where = User.id.in_(ids)
    conn.execute(update(User.__table__).where(where).values(resource_generation=User.resource_generation + 1))


_users = User.__table__
# Built once (a LIST reads generations on every request): one owner, or the caller plus the system account.
_READ_ONE = select(_users.c.id, _users.c.resource_generation).where(_users.c.id == bindparam("a"))
_READ_TWO = select(_users.c.id, _users.c.resource_generation).where(
    or_(_users.c.id == bindparam("a"), _users.c.id == bindparam("b"))
)


def read(session: Session, owners: Iterable[int]) -> Generations:
    """``((owner_id, generation), ...)`` in owner order: a cache validator for reads over these owners."""
    ids = sorted(set(owners))
    conn = session.connection()
    if len(ids) == 1:
        rows = conn.execute(_READ_ONE, {"a": ids[0]})
    elif len(ids) == 2:
        rows = conn.execute(_READ_TWO, {"a": ids[0], "b": ids[1]})
    else:
        rows = conn.execute(select(_users.c.id, _users.c.resource_generation).where(_users.c.id.in_(ids)))
    return tuple(sorted((int(i), int(g)) for i, g in rows))


@event.listens_for(Session, "before_flush")
def _bump_on_resource_changes(session: Session, _context: Any, _instances: Any) -> None:
    owners = {obj.owner_id for obj in session.new if isinstance(obj, Resource)}
    owners |= {obj.owner_id for obj in session.deleted if isinstance(obj, Resource)}
    owners |= {
        obj.owner_id
        for obj in session.dirty
        if isinstance(obj, Resource) and session.is_modified(obj, include_collections=False)
    }
    owners.discard(None)
    if owners:
        # Core on the session's connection: no autoflush, no ORM events, inside the flush's transaction.
        bump(session.connection(), owners)
