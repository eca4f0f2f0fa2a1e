"""Bring a database up to date and make sure the accounts every deployment needs exist."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from core.db.migrate import upgrade
from core.db.session import get_sessionmaker
from core.users import ensure_admin, ensure_system_user
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
        save_private(settings.state_dir / "admin_password", generated)


def save_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, atomically.

    The file is created 0600 under a temporary name and renamed over ``path``: no moment where it is
    readable by others, no half-written file, and a symlink planted at ``path`` is replaced, not followed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
