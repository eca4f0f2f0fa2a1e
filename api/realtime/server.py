"""The Socket.IO server: rooms shared across API replicas through Redis when configured."""

from __future__ import annotations

import socketio

from api.realtime.catchup import CatchUp
from api.realtime.chat import ChatNamespace
from api.realtime.fanout import FanoutManager, MergingRedisManager
from core.live_store import LiveStore, MemoryLiveStore, RedisLiveStore
from wegent.config import Settings
from wegent.realtime import NAMESPACE


def create_socket_server(settings: Settings) -> tuple[socketio.AsyncServer, LiveStore]:
    if settings.redis_url:
        # The channel is prefixed too, so several deployments can share one Redis without crosstalk.
        # Merging: chunks that queued up behind a slow fan-out (a thousand viewers) go out as one.
        manager: socketio.AsyncManager = MergingRedisManager(
            settings.redis_url, channel=f"{settings.redis_prefix}:socketio"
        )
        live: LiveStore = RedisLiveStore(settings.redis_url, settings.redis_prefix)
    else:
        manager = FanoutManager()
        live = MemoryLiveStore()
    server = socketio.AsyncServer(
        async_mode="asgi",
        # Long-polling is a session of many requests, which several processes on one port would split.
        transports=["websocket"] if settings.api_workers > 1 else ["polling", "websocket"],
        client_manager=manager,
        # None, not []: engine.io treats [] as "no origin checks at all", None as "same origin only".
        cors_allowed_origins=settings.cors_origins or None,
        ping_interval=20,
        ping_timeout=20,
    )
    # Clients that resume or join mid-stream are caught up from the live log in line with the room's emits.
    catchup = CatchUp(live)
    manager.catchup = catchup  # type: ignore[attr-defined]
    catchup.send = lambda sid, event, data: manager.deliver(sid, event, data, NAMESPACE)  # type: ignore[attr-defined]
    server.register_namespace(ChatNamespace(live, streaming=bool(settings.redis_url), catchup=catchup))
    return server, live


def relay_in_process(server: socketio.AsyncServer) -> None:
    """Workers of this same process (`wegent up`) relay their events here: the chat streams live."""
    namespace = server.namespace_handlers[NAMESPACE]
    assert isinstance(namespace, ChatNamespace)
    namespace.streaming = True
