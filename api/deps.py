"""FastAPI dependencies: database session, current user, admin guard.

The session and the caller are resolved on the event loop (async dependencies) so that a sync endpoint costs
one threadpool hop for its database work, plus one to hand the connection back, instead of a hop per
dependency. A token seen in the last few seconds is answered from :mod:`api.core.principals` without verifying it again
or touching the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.core.api_keys import KeyRefused, is_api_key, key_digest, resolve_key
from api.core.principals import principal_cache
from core.db.models import User
from core.db.session import get_sessionmaker
from core.security import TokenError, decode_access_token, token_is_current


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


async def user_from_api_key(key: str) -> User:
    """A personal key acts as its account; cached like a token, under its digest (never the key itself)."""
    cache = principal_cache()
    cache_key = "key:" + key_digest(key)
    user = cache.lookup(cache_key)
    if user is not None:
        return user
    try:
        principal = await run_in_threadpool(resolve_key, key)
    except KeyRefused as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": "Bearer"}) from exc
    expires = principal.expires_at.replace(tzinfo=UTC).timestamp() if principal.expires_at else float("inf")
    cache.remember(cache_key, principal.user, expires)
    return principal.user


async def user_from_token(token: str) -> User:
    """A signed-in token (JWT) or a personal API key (`wg-…`)."""
    if is_api_key(token):
        return await user_from_api_key(token)
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


async def get_current_user(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    # Read from the request rather than declared as a parameter: the OpenAPI spec (and the web app's
    # generated client) stays as it is for every route.
    x_api_key = request.headers.get("x-api-key")
    if creds is None and x_api_key:
        if not is_api_key(x_api_key):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid API key", {"WWW-Authenticate": "Bearer"})
        return await user_from_api_key(x_api_key)
    if creds is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    return await user_from_token(creds.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]

#: The web app's session cookie: set at sign-in, sent by the browser to the codec endpoint only (its path), so
#: the Temporal console (same site, "include cross-origin credentials") can decode the signed-in user's payloads.
SESSION_COOKIE = "wegent_session"
SESSION_COOKIE_PATH = "/api/v1/codec"


async def get_console_user(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    """The codec's caller: a bearer token or API key as on every route, else the session cookie.

    Only the codec accepts the cookie: it answers reads of the caller's own payloads, and CORS lets only the
    console's origin read them, so a cookie sent along by another page of the same site gains that page nothing.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if creds is None and cookie and not request.headers.get("x-api-key"):
        return await user_from_token(cookie)
    return await get_current_user(request, creds)


ConsoleUser = Annotated[User, Depends(get_console_user)]


async def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin role required")
    return user


AdminUser = Annotated[User, Depends(get_admin)]

#: Paging offsets beyond this are refused with 422: the database's LIMIT takes 64-bit numbers at most, and no
#: listing holds more rows.
MAX_OFFSET = 2**31 - 1
