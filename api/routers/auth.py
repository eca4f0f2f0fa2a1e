"""Login: username + password -> JWT, throttled against guessing (see api/core/login_guard.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.core.login_guard import login_guard
from api.deps import SESSION_COOKIE, SESSION_COOKIE_PATH
from core import audit
from core.db.models import User
from core.db.session import get_sessionmaker
from core.security import create_access_token, verify_password
from core.users import get_user_by_name

router = APIRouter(prefix="/auth", tags=["auth"])

# How long a sign-in may wait for a hashing slot before it is told to come back.
HASHING_WAIT_SECONDS = 10.0


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


def _too_many(seconds: int, detail: str) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail, {"Retry-After": str(seconds)})


@router.post("/login", responses={429: {"description": "too many failed sign-ins; see Retry-After"}})
async def login(body: LoginRequest, request: Request, response: Response) -> TokenResponse:
    guard = login_guard()
    address = request.client.host if request.client else "unknown"
    wait = await run_in_threadpool(guard.retry_after, address, body.username)
    if wait is not None:
        raise _too_many(wait, f"too many failed sign-ins; try again in {wait} seconds")
    hashing = guard.hashing()
    try:
        await asyncio.wait_for(hashing.acquire(), HASHING_WAIT_SECONDS)
    except TimeoutError:
        raise _too_many(1, "too many sign-ins at once; try again in a moment") from None
    try:
        user = await run_in_threadpool(_authenticate, body.username, body.password)
    finally:
        hashing.release()
    if user is None:
        await run_in_threadpool(guard.failed, address, body.username)
        await run_in_threadpool(_audit_sign_in, None, body.username, address)
        # One answer for an unknown name, a wrong password and a disabled account.
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "incorrect username or password")
    await run_in_threadpool(guard.succeeded, address, body.username)
    await run_in_threadpool(_audit_sign_in, user, body.username, address)
    token, expires = create_access_token(user.id, user.role, user.token_version)
    # Also a session cookie, readable by no script and sent only to the codec endpoint: what the Temporal
    # console (same site) passes with "include cross-origin credentials" to show this user's payloads.
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(0, int((expires - datetime.now(UTC).replace(tzinfo=expires.tzinfo)).total_seconds())),
        path=SESSION_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return TokenResponse(access_token=token, expires_at=expires)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(response: Response) -> None:
    """Forget the session cookie (tokens themselves expire, or are revoked by a password change)."""
    response.delete_cookie(SESSION_COOKIE, path=SESSION_COOKIE_PATH)


def _audit_sign_in(user: User | None, username: str, address: str) -> None:
    """Every sign-in, failed ones included, with the client's address. A failed sign-in to an existing account
    is filed under that account, so its owner sees it among their entries."""
    with get_sessionmaker()() as db:
        if user is None:
            account = get_user_by_name(db, username[:64])
            audit.record(db, account, "auth.login_failed", f"user/{username[:64]}", address=address)
        else:
            audit.record(db, user, "auth.login", f"user/{user.username}", address=address)
        db.commit()


def _authenticate(username: str, password: str) -> User | None:
    """The account, when the password is right and it may sign in; the same work in every case."""
    with get_sessionmaker()() as db:
        user = get_user_by_name(db, username)
        valid = verify_password(password, user.password_hash if user is not None else None)
        if user is None or not valid or not user.is_active or user.role == "system":
            return None
        db.expunge(user)
        return user
