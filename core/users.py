"""User accounts: the system owner of public resources, the first admin, user management."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.db.models import User
from core.security import hash_password
from wegent.config import Settings

SYSTEM_USERNAME = "system"


def get_user_by_name(db: Session, username: str) -> User | None:
    return db.scalar(select(User).where(User.username == username))


def ensure_system_user(db: Session) -> User:
    """Public resources belong to this account; it cannot log in."""
    user = get_user_by_name(db, SYSTEM_USERNAME)
    if user is None:
        try:
            user = User(username=SYSTEM_USERNAME, password_hash=None, role="system")
            db.add(user)
            db.commit()
        except IntegrityError:  # another process created it first
            db.rollback()
            user = get_user_by_name(db, SYSTEM_USERNAME)
    assert user is not None
    return user


def create_user(db: Session, username: str, password: str, role: str = "user", actor: User | None = None) -> User:
    user = User(username=username, password_hash=hash_password(password), role=role)
    db.add(user)
    db.flush()
    audit.record(db, actor, "user.create", f"user/{username}", {"role": role})
    db.commit()
    return user


def ensure_admin(db: Session, settings: Settings) -> tuple[User, str | None]:
    """Create the first admin when missing. Returns the user and the password if one was generated."""
    user = get_user_by_name(db, settings.admin_username)
    if user is not None:
        return user, None
    generated = None
    password = settings.admin_password
    if not password:
        password = generated = secrets.token_urlsafe(12)
    try:
        return create_user(db, settings.admin_username, password, role="admin"), generated
    except IntegrityError:
        db.rollback()
        existing = get_user_by_name(db, settings.admin_username)
        assert existing is not None
        return existing, None
