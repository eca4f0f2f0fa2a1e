"""Operators' view of the worker hosts: slots, live sandboxes and the queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import AdminUser
from api.services.executors_view import executors_overview
from core.db.session import get_sessionmaker

router = APIRouter(prefix="/admin/executors", tags=["admin"])


class SandboxPublic(BaseModel):
    workflowId: str
    port: int
    taskId: int | None
    owner: str | None
    state: str | None
    ageSeconds: float | None


class HostPublic(BaseModel):
    host: str
    backend: str | None
    online: bool
    lastSeen: str | None
    capacity: int
    slotsInUse: int
    warmSandboxes: int = 0  # started ahead of tasks by the host's warm pool, serving none yet
    sandboxes: list[SandboxPublic]


class QueuedTaskPublic(BaseModel):
    position: int
    taskId: int
    owner: str
    team: str
    waitingSeconds: float | None


class ExecutorsPublic(BaseModel):
    hosts: list[HostPublic]
    queued: list[QueuedTaskPublic]


@router.get("", response_model=ExecutorsPublic)
async def list_executors(_: AdminUser) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        with get_sessionmaker()() as db:
            return executors_overview(db)

    return await run_in_threadpool(read)
