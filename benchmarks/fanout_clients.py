"""The load side of benchmarks/socket_fanout.py: many Socket.IO viewers in processes of their own.

Each viewer speaks the Socket.IO v5 / Engine.IO v4 websocket protocol directly over an aiohttp websocket
(open packet, namespace connect with `auth`, `task:join` with an ack, ping → pong, `42` events). The
python-socketio client costs several times more CPU per received event; with 1000 viewers on a 2-core machine
that cost would land on the same cores as the API under test and the load would measure itself. Correctness of
the real client against the API is covered by the end-to-end tests, not here.

A load process runs one asyncio loop and obeys commands (connect, join, collect, disconnect, exit) from the
benchmark's main process over a pipe; the same viewers are pointed at Wegent's API or at the bare floor server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import resource
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

NAMESPACE = "/chat"
_EVENT = f"42{NAMESPACE},"
_ACK = f"43{NAMESPACE},"
_CONNECTED = f"40{NAMESPACE},"
_REFUSED = f"44{NAMESPACE},"


@dataclass
class Received:
    samples: list[tuple[int, float]] = field(default_factory=list)  # (chunk offset, latency ms)
    texts: dict[int, str] = field(default_factory=dict)  # chunk offset -> content
    done: bool = False

    def chunk_count(self) -> int:
        return len(self.texts)

    def text(self) -> str:
        """What a client shows: each offset once, in offset order."""
        return "".join(self.texts[offset] for offset in sorted(self.texts))


class Viewer:
    """One websocket, one Socket.IO session on `/chat`, recording the chunks of the watched task."""

    def __init__(self, owner: LoadClients, received: Received) -> None:
        self.owner, self.received = owner, received
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.connected: asyncio.Future[None] | None = None

    async def open(self, session: Any, url: str, token: str, timeout: float) -> None:
        ws_url = url.replace("http", "ws", 1).rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await session.ws_connect(ws_url, timeout=timeout, max_msg_size=0)
        opened = await self.ws.receive(timeout)  # "0{...}", the Engine.IO open packet
        if not str(opened.data).startswith("0"):
            raise ConnectionError(f"unexpected open packet {opened.data!r}")
        self.connected = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())
        await self.ws.send_str(_CONNECTED[:-1] + "," + json.dumps({"token": token}))
        await asyncio.wait_for(self.connected, timeout)

    async def call(self, event: str, data: dict[str, Any], timeout: float) -> Any:
        self.next_ack += 1
        ack_id = self.next_ack
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = future
        await self.ws.send_str(f"{_EVENT[:-1]},{ack_id}{json.dumps([event, data])}")
        return await asyncio.wait_for(future, timeout)

    async def _read(self) -> None:
        # Started once open() has read the open packet: one reader per websocket.
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            async for message in self.ws:
                data = message.data
                if not isinstance(data, str):
                    continue
                if data == "2":
                    await self.ws.send_str("3")
                elif data.startswith(_EVENT):
                    name, payload = json.loads(data[len(_EVENT) :])[:2]
                    self._on_event(name, payload)
                elif data.startswith(_ACK):
                    body = data[len(_ACK) :]
                    split = body.index("[")
                    future = self.acks.pop(int(body[:split]), None)
                    if future is not None and not future.done():
                        future.set_result(json.loads(body[split:])[0])
                elif data.startswith(_CONNECTED) and self.connected and not self.connected.done():
                    self.connected.set_result(None)
                elif data.startswith(_REFUSED) and self.connected and not self.connected.done():
                    self.connected.set_exception(ConnectionRefusedError(data))

    def _on_event(self, name: str, payload: dict[str, Any]) -> None:
        if payload.get("task_id") != self.owner.task_id:
            return
        if name == "chat:chunk":
            now_ms = time.time() * 1000.0
            produced = int(str(payload["entry"]).split("-", 1)[0])
            offset = int(payload["offset"])
            self.received.samples.append((offset, now_ms - produced))
            self.received.texts.setdefault(offset, payload["content"])
        elif name == "chat:done":
            self.received.done = True
            self.owner.changed.set()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


class LoadClients:
    """Many viewers in one event loop, driven by commands from the main process."""

    def __init__(self) -> None:
        self.viewers: list[Viewer] = []
        self.task_id = 0
        self.changed = asyncio.Event()
        self.session: Any = None

    async def connect(self, url: str, token: str, count: int, batch: int, timeout: float) -> dict[str, Any]:
        import aiohttp

        # One HTTP session for all viewers; limit=0: websockets must not queue behind a connection pool limit.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        failures: list[str] = []
        for first in range(0, count, batch):
            if time.monotonic() > deadline:
                failures.append(f"time limit reached after {len(self.viewers)} viewers")
                break
            made = [Viewer(self, Received()) for _ in range(min(batch, count - first))]
            results = await asyncio.gather(
                *(v.open(self.session, url, token, 30) for v in made), return_exceptions=True
            )
            for viewer, outcome in zip(made, results, strict=True):
                if isinstance(outcome, BaseException):
                    failures.append(repr(outcome))
                    await viewer.close()
                else:
                    self.viewers.append(viewer)
        return {
            "connected": len(self.viewers),
            "seconds": time.perf_counter() - started,
            "failures": failures[:5],
            "failed": count - len(self.viewers),
        }

    async def join(self, task_id: int, batch: int) -> dict[str, Any]:
        self.task_id = task_id
        for viewer in self.viewers:
            viewer.received = Received()
        started = time.perf_counter()
        joined = 0
        errors: list[str] = []
        for first in range(0, len(self.viewers), batch):
            group = self.viewers[first : first + batch]
            acks = await asyncio.gather(
                *(v.call("task:join", {"task_id": task_id}, 60) for v in group), return_exceptions=True
            )
            for ack in acks:
                if isinstance(ack, dict) and ack.get("ok"):
                    joined += 1
                else:
                    errors.append(repr(ack)[:200])
        return {"joined": joined, "seconds": time.perf_counter() - started, "errors": errors[:5]}

    async def collect(self, expected_text: str, timeout: float) -> dict[str, Any]:
        """Wait until every viewer has the whole answer (chat:done) or the time is up; measure loop lag."""
        lags: list[float] = []
        stop = asyncio.Event()

        async def lag_probe() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - before - 0.01)

        probe = asyncio.create_task(lag_probe())
        cpu0 = time.process_time()
        begin = time.monotonic()
        deadline = begin + timeout
        received = [v.received for v in self.viewers]
        while not all(r.done for r in received) and time.monotonic() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.5)
        seconds = time.monotonic() - begin
        await asyncio.sleep(0.2)  # stragglers after chat:done (none expected: the room preserves order)
        stop.set()
        await probe
        samples = [sample for r in received for sample in r.samples]
        offsets = [offset for offset, _ in samples]
        first, last = (min(offsets), max(offsets)) if offsets else (0, 0)
        return {
            "clients": len(received),
            "done": sum(1 for r in received if r.done),
            "complete": sum(1 for r in received if r.done and r.text() == expected_text),
            "chunks_received": sum(r.chunk_count() for r in received),
            "latencies_ms": [latency for _, latency in samples],
            "first_chunk_ms": [latency for offset, latency in samples if offset == first],
            "last_chunk_ms": [latency for offset, latency in samples if offset == last],
            "lag_ms": [x * 1000 for x in lags],
            "cpu": time.process_time() - cpu0,
            "seconds": seconds,
        }

    async def disconnect(self, batch: int) -> None:
        for first in range(0, len(self.viewers), batch):
            await asyncio.gather(*(v.close() for v in self.viewers[first : first + batch]), return_exceptions=True)
        self.viewers = []
        if self.session is not None:
            await self.session.close()
            self.session = None


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def load_process_main(conn: Connection) -> None:
    """Entry point of a load process: serve commands from the pipe until told to exit."""

    async def serve() -> None:
        load = LoadClients()
        handlers = {"connect": load.connect, "join": load.join, "collect": load.collect}
        while True:
            try:
                command: dict[str, Any] = await asyncio.to_thread(conn.recv)
            except EOFError:  # the main process is gone
                command = {"cmd": "exit"}
            name = command.pop("cmd")
            if name == "exit":
                await load.disconnect(100)
                with contextlib.suppress(OSError):
                    conn.send({"ok": True})
                return
            try:
                if name == "disconnect":
                    await load.disconnect(**command)
                    reply: dict[str, Any] = {}
                elif name in handlers:
                    reply = await handlers[name](**command)
                else:
                    reply = {"error": f"unknown command {name}"}
            except Exception as exc:  # noqa: BLE001 - report to the main process instead of dying silently
                reply = {"error": repr(exc)}
            conn.send(reply)

    # Ctrl-C reaches the whole process group: the main process handles it and tells this one to exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit(4096)
    asyncio.run(serve())


class LoadProcess:
    def __init__(self, index: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=load_process_main, args=(child,), name=f"fanout-load-{index}")
        self.process.daemon = True
        self.process.start()
        child.close()
        self.broken = False  # a command went unanswered: its late reply would be read as the next one's

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    async def call(self, cmd: str, answer_within: float, **kwargs: Any) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError(f"load process {self.pid} is out of step after an unanswered command")
        self.conn.send({"cmd": cmd, **kwargs})
        ready = await asyncio.to_thread(self.conn.poll, answer_within)
        if not ready:
            self.broken = True
            raise TimeoutError(f"load process {self.pid} did not answer {cmd} within {answer_within:.0f}s")
        reply: dict[str, Any] = self.conn.recv()
        if "error" in reply:
            raise RuntimeError(f"load process {self.pid}: {cmd} failed: {reply['error']}")
        return reply

    def stop(self) -> None:
        try:
            if self.process.is_alive() and not self.broken:
                self.conn.send({"cmd": "exit"})
                if self.conn.poll(30):
                    self.conn.recv()
        except (OSError, EOFError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()  # our own child, by its handle
            self.process.join(5)
        self.conn.close()
