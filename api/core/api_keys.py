"""Personal API keys: `wg-` + 43 url-safe characters (256 random bits), stored only as their SHA-256 digest.

A request with a key costs one indexed read of (key, account) the first time an API process sees it; after that
the principal cache answers for ``WEGENT_AUTH_CACHE_SECONDS``, exactly as for a signed-in token. The last use
is written at most once a minute per key, so a busy script does not turn every request into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db.models import ApiKey, User, utcnow
from core.db.session import get_sessionmaker

PREFIX = "wg-"
LAST_USED_RESOLUTION = timedelta(seconds=60)


def is_api_key(credential: str) -> bool:
    return credential.startswith(PREFIX)


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRefused(Exception):
    """The key is unknown, revoked or expired, or its account cannot sign in. The message says which."""


@dataclass(frozen=True)
class KeyPrincipal:
    user: User  # detached
    key_id: int
    expires_at: datetime | None  # naive UTC


def resolve_key(key: str) -> KeyPrincipal:
    """The account behind a key, in a short session of its own (blocking: run it off the event loop)."""
    with get_sessionmaker()() as db:
        row = db.execute(
            select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_hash == key_digest(key))
        ).first()
        if row is None:
            raise KeyRefused("invalid API key")
        api_key, user = row
        now = utcnow()
        if api_key.revoked_at is not None:
            raise KeyRefused("API key revoked")
        if api_key.expires_at is not None and api_key.expires_at <= now:
            raise KeyRefused("API key expired")
        if not user.is_active or user.role == "system":
            raise KeyRefused("user not found or disabled")
        if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
            db.execute(update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now))
            db.commit()
        db.expunge(user)
        return KeyPrincipal(user, api_key.id, api_key.expires_at)


def key_is_usable(db: Session, key_id: int) -> bool:
    """Still neither revoked nor expired (for long-lived sockets that signed in with a key)."""
    row = db.execute(select(ApiKey.revoked_at, ApiKey.expires_at).where(ApiKey.id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return False
    return row.expires_at is None or row.expires_at > utcnow()
