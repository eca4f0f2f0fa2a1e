"""The caller's own account, and user management for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.core.principals import forget
from api.deps import AdminUser, CurrentUser, SessionDep
from core import audit
from core.db.models import User
from core.security import hash_password
from core.users import create_user
from wegent.config import MIN_PASSWORD_LENGTH
from wegent.realtime import NAMESPACE

router = APIRouter(tags=["users"])


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: str
    is_active: bool
    created_at: datetime


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    role: Literal["admin", "user"] = "user"


class UserUpdate(BaseModel):
    password: str | None = Field(None, min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    role: Literal["admin", "user"] | None = None
    is_active: bool | None = None


@router.get("/users/me")
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.get("/admin/users")
def list_users(_: AdminUser, db: SessionDep) -> list[UserOut]:
    rows = db.scalars(select(User).where(User.role != "system").order_by(User.id))
    return [UserOut.model_validate(u) for u in rows]


@router.post("/admin/users", status_code=status.HTTP_201_CREATED)
def add_user(body: UserCreate, admin: AdminUser, db: SessionDep) -> UserOut:
    if body.username == "system":
        raise HTTPException(422, "username 'system' is reserved")
    try:
        return UserOut.model_validate(create_user(db, body.username, body.password, body.role, actor=admin))
    except IntegrityError as exc:
        db.rollback()
        raise HTTPException(409, f"user '{body.username}' already exists") from exc


def _target(db: SessionDep, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None or user.role == "system":
        raise HTTPException(404, f"user {user_id} not found")
    return user


@router.patch("/admin/users/{user_id}")
async def update_user(user_id: int, body: UserUpdate, admin: AdminUser, db: SessionDep, request: Request) -> UserOut:
    out, revoked = await run_in_threadpool(_update_user, user_id, body, admin, db)
    if revoked:
        await _sign_out(request, user_id)
    return out


def _update_user(user_id: int, body: UserUpdate, admin: User, db: Session) -> tuple[UserOut, bool]:
    user = _target(db, user_id)
    if user.id == admin.id and (body.role == "user" or body.is_active is False):
        raise HTTPException(409, "admins cannot demote or disable themselves")
    # Disabling an account or setting its password signs it out everywhere: every token issued so far
    # carries the old version and is refused from now on.
    revoke = body.password is not None or (body.is_active is False and user.is_active)
    if body.password is not None:
        user.password_hash = hash_password(body.password)
    if body.role is not None:
        user.role = body.role
    if body.is_active is not None:
        user.is_active = body.is_active
    if revoke:  # in SQL: two concurrent bumps both count
        user.token_version = User.token_version + 1
    for action, changed in (
        ("user.password", body.password is not None),
        ("user.role", body.role is not None),
        ("user.enable" if body.is_active else "user.disable", body.is_active is not None),
    ):
        if changed:
            detail = {"role": body.role} if action == "user.role" else {}
            audit.record(db, admin, action, f"user/{user.username}", detail)
    db.commit()
    forget(user.id)
    return UserOut.model_validate(user), revoke


@router.delete("/admin/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: int, admin: AdminUser, db: SessionDep, request: Request) -> None:
    await run_in_threadpool(_delete_user, user_id, admin, db)
    await _sign_out(request, user_id)


def _delete_user(user_id: int, admin: User, db: Session) -> None:
    user = _target(db, user_id)
    if user.id == admin.id:
        raise HTTPException(409, "admins cannot delete themselves")
    audit.record(db, admin, "user.delete", f"user/{user.username}")
    db.delete(user)
    db.commit()
    forget(user_id)


async def _sign_out(request: Request, user_id: int) -> None:
    """This process's sockets of the account go now; other API processes' within their next sweep."""
    sio = getattr(request.app.state, "sio", None)
    chat = sio.namespace_handlers.get(NAMESPACE) if sio is not None else None
    if chat is not None:
        await chat.revocation.revoke_user(user_id)
