"""The `/chat` Socket.IO namespace: live task streams, chat-driven tasks, resume without loss.

Rooms: `user:{id}` (task list events) and `task:{id}` (a task's stream). Every client request is answered
through its ack: `{"ok": true, ...}` or `{"ok": false, "error": "...", "field": ...}`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC
from typing import Any, TypeVar

import socketio
from sqlalchemy.orm import Session

from api.core.api_keys import KeyRefused, is_api_key, key_is_usable, resolve_key
from api.metrics import SOCKETIO_CONNECTIONS
from api.realtime.catchup import END_EVENTS, CatchUp, Snapshot
from api.realtime.revocation import Revocation, session_is_current
from api.unavailable import database_unavailable_body, driver_code, is_database_down
from core import tasks as svc
from core.db.models import User
from core.db.session import in_session
from core.live_store import LiveStore
from core.resource_store import StoreError
from core.security import TokenError, decode_access_token, token_is_current
from core.tasks import operations as task_ops
from wegent.config import get_settings
from wegent.logging import get_logger
from wegent.realtime import NAMESPACE, ServerEvent, task_room, user_room
from wegent.realtime_payloads import (
    AuthError,
    ChatResumeAck,
    ChatResumeRequest,
    ChatSendAck,
    ChatSendRequest,
    ErrorAck,
    HistorySyncAck,
    LiveText,
    OkAck,
    RequestInvalid,
    TaskCreated,
    TaskJoinAck,
    TaskRequest,
    TaskStateAck,
    parse_request,
)

log = get_logger("chat")
T = TypeVar("T")


def _error(message: str, field: str | None = None, status: int = 400) -> dict[str, Any]:
    if field:
        return ErrorAck(error=message, status=status, field=field).wire()
    return ErrorAck(error=message, status=status).wire()


class ChatNamespace(socketio.AsyncNamespace):
    def __init__(
        self, live: LiveStore, namespace: str = NAMESPACE, streaming: bool = False, catchup: CatchUp | None = None
    ) -> None:
        super().__init__(namespace)
        self.live = live
        self.catchup = catchup or CatchUp(live)
        # Whether workers' events reach this process (Redis, or the in-process bus of `wegent up`). Without,
        # clients only see what is in the database; `task:join` tells them so they can say where text comes from.
        self.streaming = streaming
        self._expiry: dict[str, asyncio.Task[None]] = {}
        self.revocation = Revocation(self, get_settings().auth_cache_seconds)

    def connected_sids(self) -> list[str]:
        """The sockets connected to this process (each has its expiry timer)."""
        return list(self._expiry)

    # ---- connection -------------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = (auth.get("token") or auth.get("apiKey")) if isinstance(auth, dict) else None
        if not token or not isinstance(token, str):
            raise socketio.exceptions.ConnectionRefusedError("authentication required: pass {token} in auth")
        key_id: int | None = None
        if is_api_key(token):
            try:
                principal = await asyncio.to_thread(resolve_key, token)
            except KeyRefused as exc:
                raise socketio.exceptions.ConnectionRefusedError(str(exc)) from exc
            user, key_id = principal.user, principal.key_id
            # A key without an expiry keeps its socket until it is revoked (checked at every request).
            exp = principal.expires_at.replace(tzinfo=UTC).timestamp() if principal.expires_at else time.time() + 1e9
        else:
            try:
                claims = decode_access_token(token)
            except TokenError as exc:
                raise socketio.exceptions.ConnectionRefusedError(str(exc)) from exc
            found = await in_session(lambda db: db.get(User, int(claims["sub"])))
            if found is None or not found.is_active or found.role == "system":
                raise socketio.exceptions.ConnectionRefusedError("user not found or disabled")
            if not token_is_current(claims, found):
                raise socketio.exceptions.ConnectionRefusedError("token revoked; sign in again")
            user, exp = found, float(claims["exp"])
        self.revocation.start()
        await self.save_session(sid, {"user_id": user.id, "exp": exp, "ver": user.token_version, "key_id": key_id})
        await self.enter_room(sid, user_room(user.id))
        self._expiry[sid] = asyncio.create_task(self._expire(sid, exp))
        SOCKETIO_CONNECTIONS.inc()
        log.info("chat.connected", sid=sid, user_id=user.id)

    async def _expire(self, sid: str, exp: float) -> None:
        await asyncio.sleep(max(0.0, exp - time.time()))
        await self._auth_error(sid, "token expired")
        await self.disconnect(sid)

    async def _auth_error(self, sid: str, error: str) -> None:
        payload = AuthError(error=error)
        await self.emit(payload.event, payload.wire(), to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.catchup.drop(sid)
        task = self._expiry.pop(sid, None)
        if task:  # only a connection that was accepted has one
            task.cancel()
            SOCKETIO_CONNECTIONS.dec()

    async def _user(self, sid: str) -> User:
        session = await self.get_session(sid)
        if session["exp"] <= time.time():
            await self._auth_error(sid, "token expired")
            await self.disconnect(sid)
            raise StoreError(401, "token expired")
        key_id = session.get("key_id")

        def load(db: Session) -> User | None:
            if key_id is not None and not key_is_usable(db, key_id):
                return None  # the key was revoked (or ran out) since the socket connected
            return db.get(User, session["user_id"])

        user = await in_session(load)
        if user is None or not user.is_active or not session_is_current(session, user.token_version):
            await self.revocation.drop(sid)
            raise StoreError(401, "user not found, disabled or signed out")
        return user

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # Event names use colons (`task:join`); handlers are `on_task_join`. Domain errors become acks instead
        # of dropped events or server tracebacks.
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        handler = getattr(self, "on_" + event.replace(":", "_"), None)
        if handler is None:
            return _error(f"unknown event '{event}'", status=404)
        try:
            return await handler(*args)
        except RequestInvalid as exc:  # the request does not fit its model (wegent/realtime_payloads.py)
            return _error(exc.message, exc.field, 422)
        except StoreError as exc:
            field = exc.errors[0].field if exc.errors else None
            message = f"{exc.detail}: {exc.errors[0].message}" if exc.errors else exc.detail
            return _error(message, field, exc.status)
        except Exception as exc:  # noqa: BLE001 - never let one bad event kill the connection
            if is_database_down(exc):
                log.warning("chat.database_unavailable", event_name=event, code=driver_code(exc))
                return _error(database_unavailable_body()["detail"], status=503)
            log.exception("chat.event_failed", event_name=event)
            return _error("internal error", status=500)

    # ---- task rooms -------------------------------------------------------------------------------

    async def on_task_join(self, sid: str, data: Any = None) -> dict[str, Any]:
        task_id = parse_request(TaskRequest, data).task_id
        user = await self._user(sid)
        # Authorise before entering the room: a refused caller must never be subscribed, not even briefly.
        await in_session(lambda db: svc.scoped_task(db, user, task_id))
        # Then join, then read. The task's message events are held back meanwhile and the catch-up sends what
        # the client lacks after the snapshot, so its live text continues exactly where the snapshot ends.
        self.catchup.hold(sid, task_id)
        snapshot: list[Snapshot] = []
        settled: set[int] = set()
        after: str | None = None
        try:
            await self.enter_room(sid, task_room(task_id))
            detail = await in_session(lambda db: svc.task_detail(db, svc.scoped_task(db, user, task_id)))
            snapshot, after = await self._live_snapshot(task_id, detail["messages"])
            settled = {m["id"] for m in detail["messages"] if m["status"] != "streaming"}
        finally:
            await self.catchup.release(sid, task_id, snapshot, after, settled)
        live = [s.text for s in snapshot]
        return TaskJoinAck(task=detail, live=live, offset=after, streaming=self.streaming).wire()

    async def on_task_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        task_id = parse_request(TaskRequest, data).task_id
        await self.leave_room(sid, task_room(task_id))
        self.catchup.drop(sid, task_id)
        return OkAck().wire()

    async def on_history_sync(self, sid: str, data: Any = None) -> dict[str, Any]:
        task_id = parse_request(TaskRequest, data).task_id
        user = await self._user(sid)
        detail = await in_session(lambda db: svc.task_detail(db, svc.scoped_task(db, user, task_id)))
        return HistorySyncAck(task=detail).wire()

    async def _live_snapshot(self, task_id: int, messages: list[dict[str, Any]]) -> tuple[list[Snapshot], str | None]:
        """Text streamed so far for messages still in progress, each with its last offset and, when the log
        already holds it, the event that ended its run; and the last log entry read."""
        streaming = {m["id"] for m in messages if m["status"] == "streaming"}
        entries = await self.live.read(task_id)
        live: dict[int, Snapshot] = {}
        for entry, event, data in entries:
            message_id = data.get("message_id")
            if message_id not in streaming:
                continue
            run_id = data.get("run_id")
            current = live.get(message_id)
            if current is None:
                fields = {"message_id": message_id, "bot": data.get("bot"), "step": data.get("step")}
                current = live[message_id] = Snapshot(LiveText(**fields, run_id=run_id, content="", offset=0))
            if event == ServerEvent.CHAT_START and run_id != current.text.run_id:
                fresh = current.text.model_copy(update={"run_id": run_id, "content": "", "offset": 0})
                live[message_id] = Snapshot(fresh)  # a fresh run restarts the text
            elif run_id != current.text.run_id:
                continue
            elif event == ServerEvent.CHAT_CHUNK and data["offset"] > current.text.offset:
                current.text.content += data["content"]
                current.text.offset = data["offset"]
            elif event in END_EVENTS:
                current.end = (entry, event, data)
        return list(live.values()), entries[-1][0] if entries else None

    async def on_chat_resume(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Replay one message's chunks after `offset`, then keep streaming live (the room is joined first)."""
        request = parse_request(ChatResumeRequest, data)
        task_id, message_id, offset = request.task_id, request.message_id, request.offset
        user = await self._user(sid)
        await in_session(lambda db: svc.scoped_task(db, user, task_id))  # authorise first: refusal joins nothing
        # Only the latest run counts (a restarted run's text is not part of the message); the catch-up sends
        # its text after `offset` from the live log, then lets the room's stream through where the replay ends.
        cursor = self.catchup.resume(sid, task_id, message_id, offset)
        await self.enter_room(sid, task_room(task_id))
        replayed = await self.catchup.start(cursor)
        return ChatResumeAck(replayed=replayed).wire()

    # ---- chat-driven tasks ------------------------------------------------------------------------

    async def on_chat_send(self, sid: str, data: Any = None) -> dict[str, Any]:
        request = parse_request(ChatSendRequest, data)
        if request.action is not None:
            return await self._decide(sid, request)
        assert request.message is not None  # the model requires it without an action
        user = await self._user(sid)
        if request.task_id is not None:
            task, msg = await task_ops.follow_up(user, request.task_id, request.message)
        else:
            assert request.team is not None  # the model requires it for a new task
            team = request.team
            task, msg = await task_ops.create_task(user, team.name, team.namespace, request.message, request.title)
            created = TaskCreated.model_validate(svc.task_summary(task))
            await self.emit(created.event, created.wire(), room=user_room(user.id))
        await self.enter_room(sid, task_room(task.id))
        return ChatSendAck(task_id=task.id, message_id=msg.id, turn=task.turn).wire()

    async def _decide(self, sid: str, request: ChatSendRequest) -> dict[str, Any]:
        """`chat:send` with action approve/reject answers a pipeline stage waiting for confirmation."""
        assert request.task_id is not None  # the model requires it with an action
        user = await self._user(sid)
        if request.action == "retry":
            task = await task_ops.retry_task(user, request.task_id)
            await self.enter_room(sid, task_room(task.id))
        else:
            approve = request.action == "approve"
            task = await task_ops.decide(user, request.task_id, approve, request.message or None)
        return TaskStateAck(task_id=task.id, state=task.state).wire()

    async def on_chat_cancel(self, sid: str, data: Any = None) -> dict[str, Any]:
        task_id = parse_request(TaskRequest, data).task_id
        user = await self._user(sid)
        task = await task_ops.cancel_task(user, task_id)
        return TaskStateAck(task_id=task.id, state=task.state).wire()
