"""Where live task events go: a replayable log per task plus Socket.IO emits to the task's room.

The activities only publish; the database stays the durable record. Relays are best effort: a live-view
outage must never fail a task, so errors are logged and swallowed here.
"""

from __future__ import annotations

from typing import Any, Protocol

import socketio

from core.live_store import LiveStore, MemoryLiveStore, RedisLiveStore
from wegent.logging import get_logger
from wegent.realtime import NAMESPACE, task_room, user_room
from wegent.realtime_payloads import ServerPayload

log = get_logger("relay")


class EventRelay(Protocol):
    """Publishes the protocol's payloads (wegent/realtime_payloads.py), each as the event it belongs to."""

    async def publish(self, task_id: int, payload: ServerPayload, dedup: tuple[str, int] | None = None) -> None:
        """An event for everyone watching the task (room `task:{id}`), kept in the task's live log."""

    async def publish_user(self, user_id: int, payload: ServerPayload) -> None:
        """An event for the task list of one user (room `user:{id}`)."""

    async def close(self) -> None: ...


class NullRelay:
    """No live view configured: events are dropped, the database still has everything."""

    async def publish(self, task_id: int, payload: ServerPayload, dedup: tuple[str, int] | None = None) -> None:
        return None

    async def publish_user(self, user_id: int, payload: ServerPayload) -> None:
        return None

    async def close(self) -> None:
        return None


class SocketRelay:
    """Append to the live log, then emit through a Socket.IO server or a write-only Redis manager."""

    def __init__(self, store: LiveStore, emitter: Any) -> None:
        self.store = store
        self.emitter = emitter

    async def publish(self, task_id: int, payload: ServerPayload, dedup: tuple[str, int] | None = None) -> None:
        event, data = payload.event, payload.wire()
        try:
            entry = await self.store.append(task_id, event, data, dedup)
            if entry is None:
                return  # already relayed by an earlier attempt
            await self.emitter.emit(event, {**data, "entry": entry}, room=task_room(task_id), namespace=NAMESPACE)
        except Exception as exc:  # noqa: BLE001 - the live view is best effort; MySQL has the record
            log.warning("relay.publish_failed", task_id=task_id, event_name=event, error=str(exc))

    async def publish_user(self, user_id: int, payload: ServerPayload) -> None:
        try:
            await self.emitter.emit(payload.event, payload.wire(), room=user_room(user_id), namespace=NAMESPACE)
        except Exception as exc:  # noqa: BLE001
            log.warning("relay.publish_user_failed", user_id=user_id, event_name=payload.event, error=str(exc))

    async def close(self) -> None:
        await self.store.close()


def redis_relay(url: str, prefix: str = "wegent") -> SocketRelay:
    manager = socketio.AsyncRedisManager(url, channel=f"{prefix}:socketio", write_only=True)
    return SocketRelay(RedisLiveStore(url, prefix), manager)


def in_process_relay(server: socketio.AsyncServer, store: MemoryLiveStore) -> SocketRelay:
    return SocketRelay(store, server)
