"""Bring a database up to date and make sure the accounts every deployment needs exist."""

from __future__ import annotations

import sys

from api.db.migrate import upgrade
from api.db.session import get_sessionmaker
from api.services.users import ensure_admin, ensure_system_user
from wegent.config import get_settings


def bootstrap_database() -> None:
    """Migrate, then make sure the system account and the first admin exist."""
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    with get_sessionmaker()() as db:
        ensure_system_user(db)
        admin, generated = ensure_admin(db, settings)
    if generated:
        # Printed once for the operator, on purpose not through the log pipeline.
        print(f"wegent: created admin '{admin.username}' with password: {generated}", file=sys.stderr)
        path = settings.state_dir / "admin_password"
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(generated)
        path.chmod(0o600)
