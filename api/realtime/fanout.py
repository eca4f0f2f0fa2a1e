"""Room fan-out that cannot fall behind the stream: text chunks waiting for the previous fan-out merge.

python-socketio's Redis manager handles the bus's messages one at a time: while one event is being written to
a thousand websockets, the next ones wait, and with the model streaming faster than the fan-out the delay only
grows. Here the bus is read without waiting: messages queue in order and one drain task emits them. When it
comes back from an emit and finds several `chat:chunk`s of the same message and run waiting back to back, whose
offset ranges follow each other, it sends them as one chunk covering the joined range (`from_offset` of the
first, `offset` and text up to the last). Anything else (tool events, state changes, other rooms) is emitted
as it came, in its place, and stops a merge. Without a backlog nothing is merged and nothing waits.

The live log keeps the un-merged chunks, so a resume from any offset a client was given still lands on a
chunk boundary. `entry` stays the first merged part's log id: when the oldest text in the chunk was produced.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from api.realtime.catchup import CatchUp
from wegent.logging import get_logger
from wegent.realtime import ServerEvent

log = get_logger("fanout")
# How long the drain waits for a room's sockets to take an emit before sending the next one anyway (a stuck
# socket must not hold the room), and how often it looks.
MAX_WRITE_WAIT = 0.5
WRITE_POLL_SECONDS = 0.004


def _chunk(message: dict[str, Any]) -> dict[str, Any] | None:
    """The chunk payload of a bus message that may merge, else None."""
    if message.get("method") != "emit" or message.get("event") != ServerEvent.CHAT_CHUNK or message.get("callback"):
        return None
    data = message.get("data")
    if message.get("binary") or not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        return None
    payload = data[0]
    if not isinstance(payload.get("offset"), int) or not isinstance(payload.get("content"), str):
        return None
    return payload


def _follows(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return (
        after.get("message_id") == before.get("message_id")
        and after.get("run_id") == before.get("run_id")
        and after.get("from_offset", after["offset"]) == before["offset"] + 1
    )


def _busy(socket: Any) -> bool:
    return socket is not None and not socket.closed and not socket.queue.empty()


def merge_backlog(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join runs of adjacent, contiguous chunk emits to the same room; everything else keeps its place."""
    out: list[dict[str, Any]] = []
    for message in messages:
        payload = _chunk(message)
        if payload is not None and out:
            previous = out[-1]
            held = _chunk(previous)
            if (
                held is not None
                and previous.get("room") == message.get("room")
                and previous.get("namespace") == message.get("namespace")
                and previous.get("skip_sid") == message.get("skip_sid")
                and _follows(held, payload)
            ):
                joined = {
                    **payload,
                    "from_offset": held.get("from_offset", held["offset"]),
                    "content": held["content"] + payload["content"],
                    "entry": held.get("entry", payload.get("entry")),
                }
                out[-1] = {**previous, "data": [joined]}
                continue
        out.append(message)
    return out


class DirectFanout:
    """Room emits that write to each socket's send queue in turn instead of one asyncio task per recipient.

    The library already encodes the Socket.IO packet once per emit; what it then spends per viewer is a task
    (create, schedule, gather) around a call that never waits (the socket's queue is unbounded). At a thousand
    viewers that bookkeeping is a large share of the fan-out, so the queue is fed directly, in room order.
    Emits with an ack callback need a packet per recipient and go the library's way. A client catching up on a
    message (api/realtime/catchup.py) gets that message's events only when its cursor admits them.
    """

    server: Any
    rooms: dict[str, Any]
    catchup: CatchUp | None = None

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        target = to or room
        # The server passes `ignore_queue` with every emit; an ack callback needs a packet per recipient.
        if callback is None and set(kwargs) <= {"ignore_queue"} and self._direct(target, namespace):
            await self.fan_out(event, data, namespace, target, skip_sid)
            return
        await super().emit(  # type: ignore[misc]
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
        )

    def _direct(self, target: Any, namespace: str) -> bool:
        """Whether an emit to `target` goes straight to this process's sockets (one process: all of them)."""
        return True

    async def fan_out(self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None) -> None:
        """Send an event to this process's sockets in `room` (every one in the namespace when None)."""
        if namespace not in self.rooms:
            return
        args, packets = self._packets(event, data, namespace)
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        catchup = self.catchup
        if catchup is None or not catchup.watching(event) or not args or not isinstance(args[0], dict):
            catchup = None
        eio = self.server.eio
        for sid, eio_sid in self.get_participants(namespace, room):  # type: ignore[attr-defined]
            if sid in skip or (catchup is not None and not catchup.admit(sid, event, args[0])):
                continue
            for pkt in packets:
                try:
                    await eio.send_packet(eio_sid, pkt)
                except Exception:  # noqa: BLE001 - a socket closing meanwhile must not stop the others' copies
                    break

    async def deliver(self, sid: str, event: str, data: dict[str, Any], namespace: str) -> None:
        """Send one event to one local socket, in line with the room emits (for the catch-up's replays)."""
        eio_sid = self.eio_sid_from_sid(sid, namespace)  # type: ignore[attr-defined]
        if eio_sid is None:
            return
        for pkt in self._packets(event, data, namespace)[1]:
            await self.server.eio.send_packet(eio_sid, pkt)

    def _packets(self, event: str, data: Any, namespace: str) -> tuple[list[Any], list[eio_packet.Packet]]:
        if isinstance(data, tuple):
            args = list(data)  # a tuple is several arguments, as in the library
        else:
            args = [data] if data is not None else []
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        parts = encoded if isinstance(encoded, list) else [encoded]  # a list when there are binary attachments
        return args, [eio_packet.Packet(eio_packet.MESSAGE, p) for p in parts]


class FanoutManager(DirectFanout, socketio.AsyncManager):  # type: ignore[misc]
    """The single-process manager with the direct fan-out."""


class MergingRedisManager(DirectFanout, socketio.AsyncRedisManager):  # type: ignore[misc]
    """A Redis client manager whose emits from the bus never block reading the bus (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backlog: deque[dict[str, Any]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    def _direct(self, target: Any, namespace: str) -> bool:
        # One socket of this process gets its event straight away; rooms go through the bus to every replica
        # (this one included: the bus brings the message back to `_handle_emit`).
        return isinstance(target, str) and self.eio_sid_from_sid(target, namespace) is not None

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        self._backlog.append(message)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._backlog:
            waiting = list(self._backlog)
            self._backlog.clear()
            for message in merge_backlog(waiting):
                try:
                    await self._emit_here(message)
                    await self._written(message.get("namespace") or "/", message.get("room"))
                except Exception:  # noqa: BLE001 - one failed emit must not stop the room's stream
                    log.exception("fanout.emit_failed", event_name=message.get("event"))

    async def _emit_here(self, message: dict[str, Any]) -> None:
        """A bus message to this process's sockets: through the direct fan-out, unless it needs the library
        (an ack callback from another host, binary attachments)."""
        data = message.get("data")
        if message.get("callback") is not None or message.get("binary") or not isinstance(data, list):
            await super()._handle_emit(message)
            return
        args = data[0] if len(data) == 1 else tuple(data)  # as the library unpacks them
        namespace = message.get("namespace") or "/"
        await self.fan_out(message["event"], args, namespace, message.get("room"), message.get("skip_sid"))

    async def _written(self, namespace: str, room: Any) -> None:
        """Wait (briefly) until the room's sockets have taken the last emit off their send queues.

        An emit only queues a copy per socket; the websockets are written later. Waiting here is what lets the
        next chunks pile up in the backlog and merge while a big room is still being written, instead of
        queueing one packet after another in every socket.
        """
        if room is None:
            return
        sockets = self.server.eio.sockets
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_WRITE_WAIT
        # Sockets are written in room order: while the last one still has the packet queued, so may others.
        watch = [eio_sid for _, eio_sid in self.get_participants(namespace, room)][::-1]
        stragglers = len(watch) // 50  # a few slow readers must not set the pace for the whole room
        while len(watch) > stragglers and loop.time() < deadline:
            if not _busy(sockets.get(watch[0])):
                watch = [eio_sid for eio_sid in watch if _busy(sockets.get(eio_sid))]
                if len(watch) <= stragglers:
                    return
            await asyncio.sleep(WRITE_POLL_SECONDS)
