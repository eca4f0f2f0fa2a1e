"""The floor for benchmarks/socket_fanout.py: a bare python-socketio server broadcasting recorded events.

No authentication, no database, no Redis: a `/chat` namespace whose `task:join` puts the socket in the room
`task:{id}`, served by uvicorn with the same defaults as `wegent api`. `POST /play` with
`{"task_id": N, "events": [[seconds, event, payload], ...]}` emits the events to that room at those offsets
from now (each stamped `entry` "<ms>-<n>" with the time it was due, as Redis stamps Wegent's with the time the
worker appended it): what the library itself costs per delivery, the floor Wegent's API is compared to in the
same run.

    .venv/bin/python benchmarks/fanout_floor.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import socketio
import uvicorn

NAMESPACE = "/chat"


class FloorNamespace(socketio.AsyncNamespace):
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        return None

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "task:join":  # colon names, as Wegent's namespace dispatches them
            sid, data = args[0], args[1]
            await self.enter_room(sid, f"task:{int(data['task_id'])}")
            return {"ok": True}
        return await super().trigger_event(event, *args)


def create_app() -> Any:
    server = socketio.AsyncServer(async_mode="asgi", transports=["websocket"], ping_interval=20, ping_timeout=20)
    server.register_namespace(FloorNamespace(NAMESPACE))
    playing: set[asyncio.Task[None]] = set()

    async def play(task_id: int, events: list[list[Any]]) -> None:
        start, wall = time.monotonic(), time.time()
        for index, (at, event, payload) in enumerate(events, start=1):
            delay = start + float(at) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # Stamped with when the event was due, not when this loop got to it: an emit still busy with the
            # previous event's thousand copies delays the next one, and that wait is part of its latency.
            entry = f"{int((wall + float(at)) * 1000)}-{index}"
            await server.emit(event, {**payload, "entry": entry}, room=f"task:{task_id}", namespace=NAMESPACE)

    async def control(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST" and scope["path"] == "/play":
            request = json.loads(body)
            task = asyncio.create_task(play(int(request["task_id"]), request["events"]))
            playing.add(task)
            task.add_done_callback(playing.discard)
            status, answer = 202, b'{"ok": true}'
        else:
            status, answer = 404, b'{"ok": false}'
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": answer})

    return socketio.ASGIApp(server, other_asgi_app=control, socketio_path="socket.io")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FloorServer:
    """benchmarks/fanout_floor.py as a process of its own (our child, stopped by its handle)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = Path(__file__)
        self.proc = subprocess.Popen([sys.executable, str(script), "--port", str(self.port)])

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self) -> None:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/socket.io/?EIO=4&transport=polling")).status_code in (200, 400):
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError("the floor server did not start")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        if self.proc.poll() is None:
            self.proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
