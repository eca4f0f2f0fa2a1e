"""The accounts behind verified bearer tokens, remembered for a few seconds per API process.

Every authenticated request needs the caller's account (is it still active? admin?). Reading it from the
database each time costs a query per request on the hottest paths, so each API process keeps what it read for
``WEGENT_AUTH_CACHE_SECONDS`` (default 5 s; 0 turns the cache off). Changes made through this process's admin
endpoints apply at once (they call :func:`forget`); changes made elsewhere (another API process, the CLI on
the database) apply within that many seconds.

Requests get their own detached ``User`` copy, never a shared instance: one request cannot change what another
sees, and a copy can be attached to a request's session (``merge``) without another query.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy.orm import make_transient_to_detached

from core.db.models import User

_COLUMNS = ("id", "username", "password_hash", "role", "is_active", "created_at", "token_version")


class PrincipalCache:
    """Verified bearer token -> the account it belongs to, for at most ``ttl_seconds`` (and never past the
    token's own expiry). Only usable accounts are remembered; a refused token is checked again each time."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, token: str) -> User | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            expires, values = entry
            if time.monotonic() >= expires:
                del self._entries[token]
                return None
        return detached_user(values)

    def remember(self, token: str, user: User, token_expires_at: float) -> None:
        """``token_expires_at``: the token's ``exp`` claim (seconds since the epoch)."""
        if self.ttl <= 0:
            return
        values = {column: getattr(user, column) for column in _COLUMNS}
        now = time.monotonic()
        expires = min(now + self.ttl, now + (token_expires_at - time.time()))
        with self._lock:
            self._entries[token] = (expires, values)
            self._entries.move_to_end(token)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, user_id: int) -> None:
        with self._lock:
            for token in [t for t, (_, values) in self._entries.items() if values["id"] == user_id]:
                del self._entries[token]


def detached_user(values: dict[str, Any]) -> User:
    user = User(**values)
    make_transient_to_detached(user)
    return user


_cache: PrincipalCache | None = None


def principal_cache() -> PrincipalCache:
    global _cache
    if _cache is None:
        from wegent.config import get_settings

        _cache = PrincipalCache(get_settings().auth_cache_seconds)
    return _cache


def forget(user_id: int) -> None:
    """The account changed: the next request re-reads it (in this process; others within the TTL)."""
    principal_cache().forget(user_id)
