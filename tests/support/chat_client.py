"""A real python-socketio client for the `/chat` namespace that records everything it receives."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

EVENTS = (
    "chat:start",
    "chat:chunk",
    "chat:done",
    "chat:error",
    "chat:cancelled",
    "chat:tool",
    "chat:message",
    "task:created",
    "task:status",
    "auth:error",
)


class ChatClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        for name in EVENTS:
            self.sio.on(name, self._recorder(name), namespace="/chat")

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        async def record(data: dict[str, Any]) -> None:
            self.events.append((name, data))
            self.changed.set()

        return record

    async def connect(self) -> ChatClient:
        await self.sio.connect(
            self.url,
            auth={"token": self.token},
            namespaces=["/chat"],
            socketio_path="socket.io",
            transports=["websocket"],
            wait_timeout=10,
        )
        return self

    async def call(self, event: str, data: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        return await self.sio.call(event, data or {}, namespace="/chat", timeout=timeout)

    async def wait_for(self, predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
        async def loop() -> None:
            while not predicate(self.events):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    def of(self, name: str, **match: Any) -> list[dict[str, Any]]:
        return [d for n, d in self.events if n == name and all(d.get(k) == v for k, v in match.items())]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def assemble(chunks: list[dict[str, Any]]) -> str:
    """What a client following the protocol shows (the web app and the CLI do this): chunks of the latest run,
    in the order they arrived, each dropped when its offset is at or below the last one shown. A coalesced chunk
    covers `from_offset`..`offset`; after a worker re-attaches, the same text may come again in smaller chunks,
    whose offsets are then at or below the one already shown."""
    if not chunks:
        return ""
    run = chunks[-1]["run_id"]
    shown, last = [], 0
    for c in chunks:
        if c["run_id"] == run and c["offset"] > last:
            shown.append(c["content"])
            last = c["offset"]
    return "".join(shown)
