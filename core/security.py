"""Password hashing (Argon2id, a slow memory-hard hash) and JWT access tokens (PyJWT, HS256)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wegent.config import get_settings

_hasher = PasswordHasher()
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Always does one full Argon2 verification, also when there is no hash to check against (an unknown
    user, the system account): the time an answer takes must not tell which names exist."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Same parameters as real hashes, so verifying against it costs the same.
    return _hasher.hash(secrets.token_urlsafe(16))


def create_access_token(
    user_id: int, role: str, version: int = 0, expires_minutes: int | None = None
) -> tuple[str, datetime]:
    """``version``: the account's token_version; a token is refused once the account's has moved on."""
    settings = get_settings()
    expires = datetime.now(UTC) + timedelta(minutes=expires_minutes or settings.jwt_expire_minutes)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "ver": version,
        "exp": expires,
        "iat": datetime.now(UTC),
    }
    return jwt.encode(payload, settings.jwt_secret, algorithm=ALGORITHM), expires


class TokenError(Exception):
    pass


def token_is_current(claims: dict[str, Any], user: Any) -> bool:
    """Issued under the account's current token version (tokens from before versions count as version 0)."""
    return claims.get("ver", 0) == user.token_version


def decode_access_token(token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, get_settings().jwt_secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("invalid token") from exc
