"""Bearer-token check: the token is per sandbox, so only the worker that started the executor can drive it."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request, status


def bearer_auth(expected_token: str) -> Callable[[Request], None]:
    expected = expected_token.encode()

    def check(request: Request) -> None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the answer time must not reveal how much of a guessed token was right.
        if scheme.lower() != "bearer" or not secrets.compare_digest(presented.strip().encode(), expected):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="missing or invalid executor token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
