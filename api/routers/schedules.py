"""Schedules: Schedule resources run by Temporal Schedules `schedule-{id}`; each run is an ordinary task.

Schedules are declared like any resource (`/namespaces/{ns}/schedules`, apply); these endpoints address one by its
id to list, run now, pause, resume, backfill and list its runs. A user sees and acts on their own schedules only
(404 otherwise); admins may act on any. Every response carries `consoleUrl`, the Temporal console's page for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import MAX_OFFSET, AdminUser, CurrentUser, SessionDep
from api.models_public import (
    ReconcileReportPublic,
    ScheduleDeletedPublic,
    ScheduleListPublic,
    SchedulePublic,
    ScheduleRunsPublic,
)
from core import schedules as svc
from core.apply import parse_documents
from core.db.models import User
from core.resource_store import ResourceStore, StoreError
from wegent.crypto import get_keyring
from wegent.resources import FieldError, validate_document

router = APIRouter(prefix="/schedules", tags=["schedules"])

Overlap = Literal["skip", "buffer_one", "buffer_all", "allow_all", "cancel_previous"]


class TriggerIn(BaseModel):
    overlap: Overlap | None = Field(None, description="overrides the schedule's overlap policy for this run")


class BackfillIn(BaseModel):
    start: datetime = Field(description="ISO 8601 with an offset; runs scheduled at or after this time")
    end: datetime = Field(description="ISO 8601 with an offset; runs scheduled at or before this time (not future)")
    overlap: Overlap | None = Field(None, description="default buffer_all: the backfilled runs go one after another")


@router.get("", response_model=ScheduleListPublic)
async def list_schedules(
    user: CurrentUser,
    all: Annotated[bool, Query(description="admins: every user's schedules")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    items, total = await svc.list_schedules(user, all, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SchedulePublic,
    openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}}},
)
async def create_schedule(request: Request, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Create a Schedule from one resource document (JSON or YAML; `kind` may be omitted), then mirror it."""
    body, content_type = await request.body(), request.headers.get("content-type", "application/json")
    # Parsing, validation and the write block: a thread, so the event loop keeps serving (issue 16, item 4).
    row_id = await run_in_threadpool(_create_sync, db, user, body, content_type)
    result = await svc.after_write(row_id)
    out = await svc.get_schedule(user, row_id)
    if result.warning:
        out["warning"] = result.warning
    return out


def _create_sync(db: Session, user: User, body: bytes, content_type: str) -> int:
    docs = parse_documents(body, content_type)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise StoreError(422, "expected exactly one Schedule document")
    raw = docs[0]
    raw.setdefault("kind", svc.KIND)
    if raw["kind"] != svc.KIND:
        raise StoreError(422, "not a Schedule", [FieldError(field="kind", message="must be 'Schedule'")])
    doc, spec, errors = validate_document(raw)
    if not errors and doc is not None and spec is not None:
        errors = svc.spec_errors(doc.kind, spec)
    if errors or doc is None or spec is None:
        raise StoreError(422, "invalid Schedule", errors)
    store = ResourceStore(db, user, get_keyring())
    row, _ = store.upsert(doc, spec, create_only=True)
    store.db.commit()
    return row.id


@router.post("/reconcile", response_model=ReconcileReportPublic)
async def reconcile(_: AdminUser) -> dict[str, Any]:
    """Admins: converge every Schedule to Temporal now (what the API does at start-up)."""
    return (await svc.reconcile_all()).as_dict()


@router.get("/{schedule_id}", response_model=SchedulePublic)
async def get_schedule(schedule_id: int, user: CurrentUser) -> dict[str, Any]:
    return await svc.get_schedule(user, schedule_id)


@router.delete("/{schedule_id}", response_model=ScheduleDeletedPublic)
async def delete_schedule(schedule_id: int, user: CurrentUser) -> dict[str, Any]:
    return await svc.delete(user, schedule_id)


@router.post("/{schedule_id}/trigger", status_code=status.HTTP_202_ACCEPTED, response_model=SchedulePublic)
async def trigger(schedule_id: int, user: CurrentUser, body: TriggerIn | None = None) -> dict[str, Any]:
    """Run now: one run starts at once (subject to the overlap policy unless overridden)."""
    return await svc.trigger(user, schedule_id, body.overlap if body else None)


@router.post("/{schedule_id}/pause", response_model=SchedulePublic)
async def pause(schedule_id: int, user: CurrentUser) -> dict[str, Any]:
    """Sets `spec.enabled: false` (the source of truth) and pauses the Temporal schedule."""
    return await svc.set_enabled(user, schedule_id, False)


@router.post("/{schedule_id}/resume", response_model=SchedulePublic)
async def resume(schedule_id: int, user: CurrentUser) -> dict[str, Any]:
    return await svc.set_enabled(user, schedule_id, True)


@router.post("/{schedule_id}/backfill", status_code=status.HTTP_202_ACCEPTED, response_model=SchedulePublic)
async def backfill(schedule_id: int, body: BackfillIn, user: CurrentUser) -> dict[str, Any]:
    """Start the runs the schedule would have started in a past window, each rendered for its own time."""
    return await svc.backfill(user, schedule_id, body.start, body.end, body.overlap)


@router.get("/{schedule_id}/runs", response_model=ScheduleRunsPublic)
async def runs(
    schedule_id: int,
    user: CurrentUser,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """The tasks this schedule created, newest first, with their states and counts by outcome."""
    return await svc.runs(user, schedule_id, state, limit, offset)
