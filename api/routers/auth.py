"""Login: username + password -> JWT."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.core.security import create_access_token, verify_password
from api.deps import SessionDep
from api.services.users import get_user_by_name

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


@router.post("/login")
def login(body: LoginRequest, db: SessionDep) -> TokenResponse:
    user = get_user_by_name(db, body.username)
    if user is None or not user.is_active or not verify_password(body.password, user.password_hash):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "incorrect username or password")
    token, expires = create_access_token(user.id, user.role)
    return TokenResponse(access_token=token, expires_at=expires)
