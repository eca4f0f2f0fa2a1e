"""Personal API keys: create (the key is returned once), list, revoke (users their own, admins any)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.api_keys import key_digest, new_key
from core import audit
from core.db.models import ApiKey, User, utcnow
from core.resource_store import StoreError
from wegent.timestamps import iso_utc

PREFIX_CHARS = 11  # "wg-" and 8 random characters: enough to tell keys apart, useless for guessing


def key_view(key: ApiKey, username: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "userId": key.user_id,
        "username": username,
        "createdAt": iso_utc(key.created_at),
        "expiresAt": iso_utc(key.expires_at),
        "lastUsedAt": iso_utc(key.last_used_at),
        "revokedAt": iso_utc(key.revoked_at),
        "active": key.revoked_at is None and (key.expires_at is None or key.expires_at > now),
    }


def create_key(db: Session, user: User, name: str, expires_days: int | None) -> dict[str, Any]:
    key = new_key()
    row = ApiKey(
        user_id=user.id,
        name=name,
        key_hash=key_digest(key),
        prefix=key[:PREFIX_CHARS],
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
    )
    db.add(row)
    db.flush()
    audit.record(db, user, "key.create", f"key/{row.id}", {"name": name, "prefix": row.prefix})
    db.commit()
    return {**key_view(row, user.username), "key": key}


def list_keys(db: Session, user_id: int | None, include_revoked: bool) -> list[dict[str, Any]]:
    """``user_id`` None: everyone's (admins)."""
    query = select(ApiKey, User.username).join(User, User.id == ApiKey.user_id)
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return [key_view(key, username) for key, username in db.execute(query.order_by(ApiKey.id))]


def revoke_key(db: Session, caller: User, key_id: int, any_owner: bool) -> dict[str, Any]:
    """Revoked keys stay listed (with ``revokedAt``) so an operator can see what existed."""
    key = db.get(ApiKey, key_id)
    if key is None or (key.user_id != caller.id and not any_owner):
        raise StoreError(404, f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(db, caller, "key.revoke", f"key/{key.id}", {"name": key.name, "prefix": key.prefix})
        db.commit()
    owner = db.get(User, key.user_id)
    return key_view(key, owner.username if owner else "")
