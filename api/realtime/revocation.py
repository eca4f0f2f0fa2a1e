"""Sockets of an account that was disabled, deleted or had its tokens revoked are disconnected.

At once in the API process that made the change (the admin endpoints call :meth:`Revocation.revoke_user`),
and in every other API process by a sweep: every ``WEGENT_AUTH_CACHE_SECONDS`` (at least one second) each
process checks the accounts behind its own sockets in one query, and disconnects those whose account is gone,
disabled, or whose token version has moved past the one the socket signed in with, and (one more query) those
that signed in with an API key that has since been revoked or has expired.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from core.db.models import ApiKey, User, utcnow
from core.db.session import get_sessionmaker
from wegent.logging import get_logger
from wegent.realtime import user_room
from wegent.realtime_payloads import AuthError

if TYPE_CHECKING:
    from api.realtime.chat import ChatNamespace

log = get_logger("chat.revocation")
REVOKED = AuthError(error="signed out: the account was disabled, its password changed, or its API key was revoked")


def session_is_current(session: dict[str, Any], token_version: int) -> bool:
    """A socket signed in with a token lives while the account's token version stands; one signed in with
    an API key (``key_id``) is governed by the key (revoked or expired), as the key is on REST."""
    return session.get("key_id") is not None or session.get("ver", 0) == token_version


def _accounts(user_ids: set[int]) -> dict[int, tuple[bool, int]]:
    with get_sessionmaker()() as db:
        rows = db.execute(select(User.id, User.is_active, User.token_version).where(User.id.in_(user_ids)))
        return {uid: (active, version) for uid, active, version in rows}


def _usable_keys(key_ids: set[int]) -> set[int]:
    """Those of these API keys that are neither revoked nor expired."""
    with get_sessionmaker()() as db:
        rows = db.execute(
            select(ApiKey.id).where(
                ApiKey.id.in_(key_ids),
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > utcnow()),
            )
        )
        return {key_id for (key_id,) in rows}


class Revocation:
    def __init__(self, chat: ChatNamespace, interval: float) -> None:
        self.chat = chat
        self.interval = max(1.0, interval)
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sweep in the background from the first connection on (a running loop exists by then)."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def revoke_user(self, user_id: int) -> None:
        sids = [sid for sid, _ in self.chat.server.manager.get_participants(self.chat.namespace, user_room(user_id))]
        for sid in sids:
            await self.drop(sid)

    async def sweep(self) -> None:
        sessions: dict[str, dict[str, Any]] = {}
        for sid in list(self.chat.connected_sids()):
            with contextlib.suppress(KeyError):
                sessions[sid] = await self.chat.get_session(sid)
        if not sessions:
            return
        accounts = await asyncio.to_thread(_accounts, {s["user_id"] for s in sessions.values()})
        # Sockets that signed in with an API key also go when the key is revoked or runs out.
        key_ids = {s["key_id"] for s in sessions.values() if s.get("key_id") is not None}
        usable = await asyncio.to_thread(_usable_keys, key_ids) if key_ids else set()
        for sid, session in sessions.items():
            active, version = accounts.get(session["user_id"], (False, -1))
            key_id = session.get("key_id")
            if not active or not session_is_current(session, version) or (key_id is not None and key_id not in usable):
                await self.drop(sid)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a failed sweep (database down) is retried on the next tick
                log.warning("chat.sweep_failed", exc_info=True)

    async def drop(self, sid: str) -> None:
        log.info("chat.revoked", sid=sid)
        await self.chat.emit(REVOKED.event, REVOKED.wire(), to=sid)
        await self.chat.disconnect(sid)
