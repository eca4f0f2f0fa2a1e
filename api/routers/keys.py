"""Personal API keys (`wg-…`): each user manages their own; admins list and revoke anyone's."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.core.principals import forget
from api.deps import AdminUser, CurrentUser, SessionDep
from api.models_public import ApiKeyCreatedPublic, ApiKeyPublic
from api.services import api_keys as svc
from core.db.models import User
from wegent.realtime import NAMESPACE

router = APIRouter(tags=["api keys"])


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expiresDays: int | None = Field(None, ge=1, le=3650, description="the key stops working after this many days")


@router.post("/users/me/keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreatedPublic)
def create_key(body: ApiKeyCreate, user: CurrentUser, db: SessionDep) -> dict[str, Any]:
    """The response is the only place the key is ever shown: only its SHA-256 digest is stored."""
    return svc.create_key(db, user, body.name, body.expiresDays)


@router.get("/users/me/keys", response_model=list[ApiKeyPublic])
def list_my_keys(
    user: CurrentUser, db: SessionDep, include_revoked: Annotated[bool, Query(alias="includeRevoked")] = False
) -> list[dict[str, Any]]:
    return svc.list_keys(db, user.id, include_revoked)


@router.delete("/users/me/keys/{key_id}", response_model=ApiKeyPublic)
async def revoke_my_key(key_id: int, user: CurrentUser, db: SessionDep, request: Request) -> dict[str, Any]:
    return await _revoke(request, db, user, key_id, any_owner=False)


@router.get("/admin/keys", response_model=list[ApiKeyPublic])
def list_all_keys(
    _: AdminUser,
    db: SessionDep,
    user_id: Annotated[int | None, Query(alias="userId")] = None,
    include_revoked: Annotated[bool, Query(alias="includeRevoked")] = False,
) -> list[dict[str, Any]]:
    return svc.list_keys(db, user_id, include_revoked)


@router.delete("/admin/keys/{key_id}", response_model=ApiKeyPublic)
async def revoke_any_key(key_id: int, admin: AdminUser, db: SessionDep, request: Request) -> dict[str, Any]:
    return await _revoke(request, db, admin, key_id, any_owner=True)


async def _revoke(request: Request, db: Session, caller: User, key_id: int, any_owner: bool) -> dict[str, Any]:
    view = await run_in_threadpool(svc.revoke_key, db, caller, key_id, any_owner)
    # This process stops accepting it at once; other API processes within WEGENT_AUTH_CACHE_SECONDS.
    forget(view["userId"])
    await _drop_sockets(request, key_id)
    return view


async def _drop_sockets(request: Request, key_id: int) -> None:
    """Sockets of this process that signed in with the key go now (elsewhere: at their next request)."""
    sio = getattr(request.app.state, "sio", None)
    chat = sio.namespace_handlers.get(NAMESPACE) if sio is not None else None
    if chat is None:
        return
    for sid in chat.connected_sids():
        with contextlib.suppress(KeyError):
            if (await chat.get_session(sid)).get("key_id") == key_id:
                await chat.revocation.drop(sid)
