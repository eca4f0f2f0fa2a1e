"""What the resource API calls after a Schedule is written, deleted or applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Resource
from core.db.session import in_session
from core.schedules.mirroring import MirrorResult, deletion_report, mirror, remove
from core.schedules.names import KIND

if TYPE_CHECKING:
    from core.apply import ApplyReport
    from core.resource_store import ResourceStore


def _row_id(db: Session, owner_id: int, namespace: str, name: str) -> int | None:
    return db.scalar(
        select(Resource.id).where(
            Resource.owner_id == owner_id, Resource.kind == KIND, Resource.namespace == namespace, Resource.name == name
        )
    )


async def after_write(schedule_id: int) -> MirrorResult:
    """Call after a Schedule resource's create/update was committed."""
    return await mirror(schedule_id, reason="write")


async def after_delete(schedule_id: int) -> dict[str, Any]:
    """Call after a Schedule resource's deletion was committed; the response's `temporal` field."""
    return deletion_report(await remove(schedule_id))


async def after_apply(store: ResourceStore, report: ApplyReport, public: bool) -> None:
    """Mirror every Schedule of a committed apply; a Temporal failure becomes that document's `detail`."""
    owner_id = store.owner_for(public)
    for result in report.results:
        if result.kind != KIND or result.result not in ("created", "updated", "unchanged"):
            continue
        ns, name = result.namespace or "default", result.name or ""
        schedule_id = await in_session(lambda db, ns=ns, name=name: _row_id(db, owner_id, ns, name))
        if schedule_id is None:
            continue
        outcome = await mirror(schedule_id, reason="write")
        if outcome.warning:
            result.detail = outcome.warning
