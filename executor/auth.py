"""Bearer-token check: the token is per sandbox, so only the worker that started the executor can drive it.

A pooled executor (started warm, before any task exists) has no task token yet: it holds a one-time pool key,
and the worker binds it to a task by presenting that key once with the task's token (``POST /bind``). Until
then every run route refuses, and afterwards the pool key opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status


class TokenHolder:
    """The executor's task token, set at start or once at binding; the pool key is cleared by the binding."""

    def __init__(self, token: str | None, pool_key: str | None = None) -> None:
        if not token and not pool_key:
            raise ValueError("an executor token (or a pool key to bind one later) is required")
        self.token = token or None
        self.pool_key = None if token else pool_key

    @property
    def bound(self) -> bool:
        return self.token is not None

    def pool_fingerprint(self) -> str | None:
        """Lets the pool tell its own waiting executor from another one on the same port (reveals no key)."""
        return fingerprint(self.pool_key) if self.pool_key else None

    def bind(self, presented_key: str, token: str) -> bool:
        """Take the task's token if ``presented_key`` is the pool key; a second binding never succeeds."""
        if self.pool_key is None or not _same(presented_key, self.pool_key):
            return False
        self.token, self.pool_key = token, None
        return True


def fingerprint(pool_key: str) -> str:
    return hashlib.sha256(f"wegent-pool/{pool_key}".encode()).hexdigest()[:16]


def _same(presented: str, expected: str) -> bool:
    # compare_digest: the answer time must not reveal how much of a guessed token was right.
    return secrets.compare_digest(presented.strip().encode(), expected.encode())


def presented_token(request: Request) -> str | None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return presented if scheme.lower() == "bearer" else None


def _refuse() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="missing or invalid executor token",
        headers={"WWW-Authenticate": "Bearer"},
    )


def bearer_auth(expected: str | TokenHolder) -> Callable[[Request], Awaitable[None]]:
    holder = expected if isinstance(expected, TokenHolder) else TokenHolder(expected)

    # A coroutine, though it never waits: FastAPI runs a plain function dependency on a worker thread, a thread
    # hop on every request of the run's path (start, events, status) for a comparison of two strings.
    async def check(request: Request) -> None:
        presented = presented_token(request)
        if presented is None or holder.token is None or not _same(presented, holder.token):
            raise _refuse()

    return check


def refuse() -> HTTPException:
    return _refuse()
