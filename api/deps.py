"""FastAPI dependencies: database session, current user, admin guard.

The session and the caller are resolved on the event loop (async dependencies) so that a sync endpoint costs
one threadpool hop for its database work, plus one to hand the connection back, instead of a hop per
dependency. A token seen in the last few seconds is answered from :mod:`api.core.principals` without verifying it again
or touching the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.core.principals import principal_cache
from api.core.security import TokenError, decode_access_token, token_is_current
from api.db.models import User
from api.db.session import get_sessionmaker


async def get_db() -> AsyncIterator[Session]:
    session = get_sessionmaker()()  # no I/O until first use
    try:
        yield session
    finally:
        if session.in_transaction():
            # Hands the connection back to the pool, which rolls back on the database: blocking I/O.
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_db)]


_bearer = HTTPBearer(auto_error=False)


def load_user(user_id: int) -> User | None:
    """Read the account in a short session of its own; the result is detached from it."""
    with get_sessionmaker()() as db:
        user = db.get(User, user_id)
        if user is not None:
            db.expunge(user)
        return user


async def user_from_token(token: str) -> User:
    cache = principal_cache()
    user = cache.lookup(token)
    if user is not None:
        return user
    try:
        claims = decode_access_token(token)
        user_id = int(claims["sub"])
    except (TokenError, KeyError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, TokenError) else "invalid token"
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"}) from exc
    user = await run_in_threadpool(load_user, user_id)
    if user is None or not user.is_active or user.role == "system":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "user not found or disabled")
    if not token_is_current(claims, user):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "token revoked; sign in again", {"WWW-Authenticate": "Bearer"}
        )
    cache.remember(token, user, float(claims["exp"]))
    return user


async def get_current_user(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if creds is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    return await user_from_token(creds.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin role required")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
