"""The caller's own account, and user management for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.core.principals import forget
from api.core.security import hash_password
from api.db.models import User
from api.deps import AdminUser, CurrentUser, SessionDep
from api.services.users import create_user
from wegent.config import MIN_PASSWORD_LENGTH

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
def add_user(body: UserCreate, _: AdminUser, db: SessionDep) -> UserOut:
    if body.username == "system":
        raise HTTPException(422, "username 'system' is reserved")
    try:
        return UserOut.model_validate(create_user(db, body.username, body.password, body.role))
    except IntegrityError as exc:
        db.rollback()
        raise HTTPException(409, f"user '{body.username}' already exists") from exc


def _target(db: SessionDep, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None or user.role == "system":
        raise HTTPException(404, f"user {user_id} not found")
    return user


@router.patch("/admin/users/{user_id}")
def update_user(user_id: int, body: UserUpdate, admin: AdminUser, db: SessionDep) -> UserOut:
    user = _target(db, user_id)
    if user.id == admin.id and (body.role == "user" or body.is_active is False):
        raise HTTPException(409, "admins cannot demote or disable themselves")
    if body.password is not None:
        user.password_hash = hash_password(body.password)
    if body.role is not None:
        user.role = body.role
    if body.is_active is not None:
        user.is_active = body.is_active
    db.commit()
    forget(user.id)
    return UserOut.model_validate(user)


@router.delete("/admin/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(user_id: int, admin: AdminUser, db: SessionDep) -> None:
    user = _target(db, user_id)
    if user.id == admin.id:
        raise HTTPException(409, "admins cannot delete themselves")
    db.delete(user)
    db.commit()
    forget(user_id)
