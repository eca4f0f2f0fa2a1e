"""Socket.IO fan-out: chunk latency from the worker's relay to 1, 100 and 1000 clients on ONE API process.

Set-up: one stack (one `uvicorn api.main:app` process, one worker, local executors) with Redis, as in
tests/e2e/test_live_chat.py: the worker relays every chat event into the task's Redis stream (XADD) and
publishes it on the Socket.IO Redis channel; the API process emits it to the task room.

Per round with N clients:

1. N `socketio.AsyncClient`s (websocket transport, one asyncio loop in a separate load process, connected
   in batches) log in with a token of the task owner.
2. A solo task is created (POST /api/v1/tasks). Its model request is held at a gate in front of the
   scripted model (tests.support.model_server), so nothing streams yet.
3. Every client joins the task room (`task:join`); then the gate opens and the model streams `--chunks`
   chunks of `--chunk-size` characters, `--chunk-delay` seconds apart.
4. Each client records, for every chat:chunk event of the task, its receive time (time.time() in the
   handler) minus the time the chunk was produced.

"Produced" is read from the event's `entry` field: the id Redis gave the chunk's stream entry when the
worker appended it (XADD), whose first part is Redis's own wall clock in milliseconds. Redis runs on this
host, so it shares the clock with the clients (the offset is checked with Redis TIME and printed). The
latency therefore covers worker XADD → Redis PUBLISH → API process → websocket → client handler; it does
not include the executor → worker hop before the XADD. The id is truncated to the millisecond, so each
sample reads 0–1 ms high (0.5 ms on average); a client busy with other clients' messages adds its own
queueing, which is why the load process's event-loop lag is reported too.

    .venv/bin/python benchmarks/socket_fanout.py [--quick] [--clients 1,100,1000] [--load-processes 1]

Target: p95 < 50 ms at 100 clients; at 1000 clients every client connected and served (all chunks received).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import resource
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.common import (
    REDIS_URL,
    STATS_HEADERS,
    BenchEnv,
    Stats,
    log,
    ms,
    print_footer,
    print_header,
    process_cpu_seconds,
    ratio,
    run_main,
    stats_row,
    table,
    token_of,
    verdict,
)
from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelState, ScriptRule, ServerThread, create_app
from tests.support.stack import Stack

TARGET_P95_AT_100 = 0.050
NAMESPACE = "/chat"


# ---------------------------------------------------------------------------------------------- model


class GatedModel:
    """The scripted fake model behind a gate: chat requests wait (before any byte is answered) until `open()`.

    Built from tests.support.model_server's own pieces (ModelState, create_app, ServerThread), bound to
    127.0.0.1 since the executors are local processes.
    """

    def __init__(self) -> None:
        self.state = ModelState()
        self._gate = threading.Event()
        self._lock = threading.Lock()
        self._waiting = 0
        inner = create_app(self.state)

        async def gated(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"].endswith("/chat/completions") and not self._gate.is_set():
                self._count(1)
                try:
                    while not self._gate.is_set():
                        await asyncio.sleep(0.002)
                finally:
                    self._count(-1)
            await inner(scope, receive, send)

        self._server = ServerThread(gated, host="127.0.0.1")

    def _count(self, delta: int) -> None:
        with self._lock:
            self._waiting += delta

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def start(self) -> GatedModel:
        self._server.start()
        return self

    def stop(self) -> None:
        self._gate.set()
        self._server.stop()

    def close_gate(self) -> None:
        self._gate.clear()

    def open_gate(self) -> None:
        self._gate.set()

    @property
    def openai_base_url(self) -> str:
        return f"{self._server.url}/v1"


# ---------------------------------------------------------------------------------------------- load process


@dataclass
class Received:
    samples: list[tuple[int, float]] = field(default_factory=list)  # (chunk offset, latency ms)
    done: bool = False

    def chunk_count(self) -> int:
        return len({offset for offset, _ in self.samples})


class LoadClients:
    """Many Socket.IO clients in one event loop, driven by commands from the main process."""

    def __init__(self) -> None:
        self.clients: list[Any] = []
        self.received: list[Received] = []
        self.task_id = 0
        self.changed = asyncio.Event()
        self.session: Any = None

    async def connect(self, url: str, token: str, count: int, batch: int, timeout: float) -> dict[str, Any]:
        import aiohttp
        import socketio

        # One HTTP session for all clients; limit=0: websockets must not queue behind a connection pool limit.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        failures: list[str] = []
        for first in range(0, count, batch):
            if time.monotonic() > deadline:
                failures.append(f"time limit reached after {len(self.clients)} clients")
                break
            made = []
            for _ in range(min(batch, count - first)):
                sio = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=self.session)
                received = Received()
                sio.on("chat:chunk", self._on_chunk(received), namespace=NAMESPACE)
                sio.on("chat:done", self._on_done(received), namespace=NAMESPACE)
                made.append((sio, received))
            results = await asyncio.gather(
                *(
                    sio.connect(
                        url,
                        auth={"token": token},
                        namespaces=[NAMESPACE],
                        socketio_path="socket.io",
                        transports=["websocket"],
                        wait_timeout=30,
                    )
                    for sio, _ in made
                ),
                return_exceptions=True,
            )
            for (sio, received), outcome in zip(made, results, strict=True):
                if isinstance(outcome, BaseException):
                    failures.append(repr(outcome))
                    continue
                self.clients.append(sio)
                self.received.append(received)
        return {
            "connected": len(self.clients),
            "seconds": time.perf_counter() - started,
            "failures": failures[:5],
            "failed": count - len(self.clients),
        }

    def _on_chunk(self, received: Received) -> Any:
        async def handler(data: dict[str, Any]) -> None:
            now_ms = time.time() * 1000.0
            if data.get("task_id") != self.task_id:
                return
            received.samples.append((int(data["offset"]), now_ms - int(str(data["entry"]).split("-", 1)[0])))

        return handler

    def _on_done(self, received: Received) -> Any:
        async def handler(data: dict[str, Any]) -> None:
            if data.get("task_id") == self.task_id:
                received.done = True
                self.changed.set()

        return handler

    async def join(self, task_id: int, batch: int) -> dict[str, Any]:
        self.task_id = task_id
        started = time.perf_counter()
        joined = 0
        errors: list[str] = []
        for first in range(0, len(self.clients), batch):
            group = self.clients[first : first + batch]
            acks = await asyncio.gather(
                *(sio.call("task:join", {"task_id": task_id}, namespace=NAMESPACE, timeout=60) for sio in group),
                return_exceptions=True,
            )
            for ack in acks:
                if isinstance(ack, dict) and ack.get("ok"):
                    joined += 1
                else:
                    errors.append(repr(ack)[:200])
        return {"joined": joined, "seconds": time.perf_counter() - started, "errors": errors[:5]}

    async def collect(self, expected_chunks: int, timeout: float) -> dict[str, Any]:
        """Wait until every client has the whole answer (chat:done) or the time is up; measure loop lag."""
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
        while not all(r.done for r in self.received) and time.monotonic() < deadline:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 0.5)
            except TimeoutError:
                pass
        seconds = time.monotonic() - begin
        await asyncio.sleep(0.2)  # stragglers after chat:done (none expected: the room preserves order)
        stop.set()
        await probe
        samples = [sample for r in self.received for sample in r.samples]
        offsets = [offset for offset, _ in samples]
        first, last = (min(offsets), max(offsets)) if offsets else (0, 0)
        return {
            "clients": len(self.received),
            "done": sum(1 for r in self.received if r.done),
            "all_chunks": sum(1 for r in self.received if r.chunk_count() >= expected_chunks),
            "chunks_received": sum(r.chunk_count() for r in self.received),
            "latencies_ms": [latency for _, latency in samples],
            "first_chunk_ms": [latency for offset, latency in samples if offset == first],
            "last_chunk_ms": [latency for offset, latency in samples if offset == last],
            "lag_ms": [x * 1000 for x in lags],
            "cpu": time.process_time() - cpu0,
            "seconds": seconds,
        }

    async def disconnect(self, batch: int) -> None:
        for first in range(0, len(self.clients), batch):
            group = self.clients[first : first + batch]
            await asyncio.gather(*(sio.disconnect() for sio in group), return_exceptions=True)
        self.clients, self.received = [], []
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
                if name == "connect":
                    reply = await load.connect(**command)
                elif name == "join":
                    reply = await load.join(**command)
                elif name == "collect":
                    reply = await load.collect(**command)
                elif name == "disconnect":
                    await load.disconnect(**command)
                    reply = {}
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


# ---------------------------------------------------------------------------------------------- rounds


@dataclass
class RoundResult:
    clients: int
    connected: int = 0
    joined: int = 0
    done: int = 0
    all_chunks: int = 0
    chunks_received: int = 0
    latency: Stats = field(default_factory=lambda: Stats.of([]))
    first_chunk: Stats = field(default_factory=lambda: Stats.of([]))
    last_chunk: Stats = field(default_factory=lambda: Stats.of([]))
    lag: Stats = field(default_factory=lambda: Stats.of([]))
    connect_seconds: float = math.nan
    join_seconds: float = math.nan
    stream_seconds: float = math.nan
    api_cpu: float = math.nan  # share of one core over the stream
    load_cpu: float = math.nan
    api_cpu_per_delivery: float = math.nan  # API CPU seconds per chat:chunk delivered to one client
    error: str = ""


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def run_round(
    env: BenchEnv,
    stack: Stack,
    model: GatedModel,
    loads: list[LoadProcess],
    team: str,
    clients: int,
    args: argparse.Namespace,
) -> RoundResult:
    result = RoundResult(clients)
    assert stack.api is not None
    token = token_of(stack.headers)
    shares = split(clients, len(loads))
    active = [(load, share) for load, share in zip(loads, shares, strict=True) if share]
    stream_estimate = args.chunks * (args.chunk_delay + 0.002)
    try:
        log(f"{clients} clients: connecting")
        replies = await asyncio.gather(
            *(
                load.call(
                    "connect",
                    args.connect_timeout + 30,
                    url=stack.url,
                    token=token,
                    count=share,
                    batch=args.connect_batch,
                    timeout=args.connect_timeout,
                )
                for load, share in active
            )
        )
        result.connected = sum(r["connected"] for r in replies)
        result.connect_seconds = max(r["seconds"] for r in replies)
        failures = [f for r in replies for f in r["failures"]]
        if failures:
            log(f"connect failures (first few): {failures}")

        model.close_gate()
        async with httpx.AsyncClient(base_url=stack.url, headers=stack.headers, timeout=60) as http:
            response = await http.post("/api/v1/tasks", json={"team": {"name": team}, "prompt": "stream please"})
            response.raise_for_status()
            task_id = int(response.json()["id"])
            env.track_task(task_id)
            log(f"{clients} clients: task {task_id} created; joining")
            replies = await asyncio.gather(
                *(load.call("join", 300, task_id=task_id, batch=args.connect_batch) for load, _ in active)
            )
            result.joined = sum(r["joined"] for r in replies)
            result.join_seconds = max(r["seconds"] for r in replies)
            errors = [e for r in replies for e in r["errors"]]
            if errors:
                log(f"join errors (first few): {errors}")

            deadline = time.monotonic() + 120
            while model.waiting < 1:  # the executor is up and its model request waits at the gate
                if time.monotonic() > deadline:
                    raise TimeoutError("the task's model request never arrived")
                await asyncio.sleep(0.05)
            api_cpu0 = process_cpu_seconds(stack.api.proc.pid)
            started = time.perf_counter()
            model.open_gate()
            log(f"{clients} clients: streaming {args.chunks} chunks")
            collect_timeout = stream_estimate * 3 + 60
            replies = await asyncio.gather(
                *(
                    load.call("collect", collect_timeout + 60, expected_chunks=args.chunks, timeout=collect_timeout)
                    for load, _ in active
                )
            )
            result.api_cpu = process_cpu_seconds(stack.api.proc.pid) - api_cpu0
            result.stream_seconds = max(r["seconds"] for r in replies)
            cpu_window = time.perf_counter() - started
            result.load_cpu = sum(r["cpu"] for r in replies)
            # CPU shares are over the whole collect window (gate open → all done + 0.2 s).
            result.api_cpu, result.load_cpu = result.api_cpu / cpu_window, result.load_cpu / cpu_window
            result.done = sum(r["done"] for r in replies)
            result.all_chunks = sum(r["all_chunks"] for r in replies)
            result.chunks_received = sum(r["chunks_received"] for r in replies)
            if result.chunks_received:
                result.api_cpu_per_delivery = result.api_cpu * cpu_window / result.chunks_received
            result.latency = Stats.of(x / 1000 for r in replies for x in r["latencies_ms"])
            result.first_chunk = Stats.of(x / 1000 for r in replies for x in r["first_chunk_ms"])
            result.last_chunk = Stats.of(x / 1000 for r in replies for x in r["last_chunk_ms"])
            result.lag = Stats.of(x / 1000 for r in replies for x in r["lag_ms"])

            # The task must finish and its workflow close before the next round.
            await env.wait_workflow_closed(f"task-{task_id}", 120)
            state = (await http.get(f"/api/v1/tasks/{task_id}")).json()["state"]
            if state != "COMPLETED":
                result.error = f"task {task_id} ended {state}"
    except Exception as exc:  # noqa: BLE001 - report the round as failed, keep going
        result.error = result.error or repr(exc)
        log(f"{clients} clients: round failed: {exc!r}")
    finally:
        model.open_gate()
        await asyncio.gather(
            *(load.call("disconnect", 300, batch=args.connect_batch) for load, _ in active), return_exceptions=True
        )
    return result


async def clock_offset_ms() -> float:
    """Redis TIME − local time.time(), in ms (midpoint of the round trip)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        before = time.time()
        seconds, micros = await client.time()
        after = time.time()
    finally:
        await client.aclose()
    return (seconds + micros / 1e6 - (before + after) / 2) * 1000


async def main(args: argparse.Namespace) -> int:
    counts = [int(x) for x in args.clients.split(",") if x.strip()]
    text = "".join(f"w{i:03d}"[: args.chunk_size].ljust(args.chunk_size, ".") for i in range(args.chunks))
    offset = await clock_offset_ms()
    parameters = {
        "API": "1 uvicorn process (api.main:app), Redis manager + Redis live log; 1 worker; local executors",
        "client counts": ", ".join(map(str, counts)),
        "clients": "socketio.AsyncClient, websocket transport, all in the task room (task:join) before streaming",
        "load processes": f"{args.load_processes} (clients split evenly; one asyncio loop each)",
        "connect/join batch": args.connect_batch,
        "stream": f"{args.chunks} chunks x {args.chunk_size} chars, {args.chunk_delay * 1000:.0f} ms apart",
        "latency": "client receive time.time() − Redis stream entry ms (XADD in the worker relay)",
        "clock check": f"Redis TIME − local time.time() = {offset:+.2f} ms",
        "targets": "p95 < 50 ms at 100 clients; at 1000 clients all connected and all chunks received",
    }
    print_header("Wegent Socket.IO fan-out (benchmarks/socket_fanout.py)", parameters)
    soft = raise_fd_limit(4096)
    if soft < max(counts) + 256:
        log(f"warning: open-file limit {soft} may be too low for {max(counts)} clients")
    model = GatedModel().start()
    loads: list[LoadProcess] = []
    results: list[RoundResult] = []
    try:
        async with BenchEnv("fanout", keep_logs=args.keep_logs) as env:
            stack = await env.start_stack(
                "bench-fanout",
                WEGENT_EXECUTOR_BACKEND="local",
                WEGENT_EXECUTOR_IDLE_SECONDS="0",
                WEGENT_TASK_IDLE_SECONDS="0",
            )
            model.state.script(
                [ScriptRule(match="*", text=text, chunk_size=args.chunk_size, chunk_delay=args.chunk_delay)]
            )
            await asyncio.to_thread(
                stack.apply, team_yaml("fan", model.openai_base_url, [{"bot": "talker"}], collaboration="solo")
            )
            loads = [LoadProcess(i) for i in range(args.load_processes)]
            for clients in counts:
                result = await run_round(env, stack, model, loads, "fan-team", clients, args)
                results.append(result)
                log(
                    f"{clients} clients: connected {result.connected}, all chunks {result.all_chunks}, "
                    f"p95 {ms(result.latency.p95)} ms {result.error}"
                )
    finally:
        for load in loads:
            await asyncio.to_thread(load.stop)
        model.stop()
    report(results, args)
    print_footer()
    return 1 if any(r.error for r in results) else 0


def report(results: list[RoundResult], args: argparse.Namespace) -> None:
    print("Chunk latency, worker relay (Redis XADD) → Socket.IO client handler (all chunks of all clients)")
    rows = [
        [*stats_row(f"{r.clients} clients", r.latency, 1), ms(r.first_chunk.p50), ms(r.last_chunk.p50)] for r in results
    ]
    print(table([*STATS_HEADERS, "first chunk p50", "last chunk p50"], rows))
    print("(first/last chunk p50: latency of the stream's first/last chunk across clients; a last chunk much later")
    print(" than the first means deliveries fell behind the stream rate and queued up.)")

    print("\nClients and load")
    rows = []
    for r in results:
        rows.append(
            [
                f"{r.clients} clients",
                f"{r.connected}/{r.clients}",
                f"{r.joined}/{r.clients}",
                f"{r.all_chunks}/{r.clients}",
                f"{r.chunks_received}/{r.clients * args.chunks}",
                f"{r.connect_seconds:.1f}",
                f"{r.join_seconds:.1f}",
                f"{r.stream_seconds:.1f}",
                "-" if math.isnan(r.api_cpu) else f"{100 * r.api_cpu:.0f}%",
                "-" if math.isnan(r.load_cpu) else f"{100 * r.load_cpu:.0f}%",
                "-" if math.isnan(r.api_cpu_per_delivery) else f"{r.api_cpu_per_delivery * 1e6:.0f}",
                ms(r.lag.p95),
                ms(r.lag.max),
                r.error[:60],
            ]
        )
    headers = [
        "",
        "connected",
        "joined",
        "all chunks",
        "chunks recv",
        "connect s",
        "join s",
        "stream s",
        "API CPU",
        "load CPU",
        "API CPU µs/delivery",
        "lag p95 ms",
        "lag max ms",
        "error",
    ]
    print(table(headers, rows))
    print("(stream s: gate opened → every client had chat:done; API CPU / load CPU: CPU time of the API process /")
    print(" of the load process(es) over the stream, 100% = one core; API CPU µs/delivery: API CPU time per chunk")
    print(" delivered to one client, largely independent of other load on the machine; lag: the load loop's timer")
    print(" overshoot, i.e. queueing inside the load generator.)")

    print("\nAgainst the targets")
    rows = []
    for r in results:
        if r.clients == 100:
            rows.append(
                [
                    "p95 at 100 clients",
                    f"{ms(r.latency.p95)} ms",
                    f"{TARGET_P95_AT_100 * 1000:.0f} ms",
                    ratio(r.latency.p95, TARGET_P95_AT_100),
                    verdict(r.latency.p95, TARGET_P95_AT_100),
                ]
            )
        if r.clients == 1000:
            served = r.connected == r.clients and r.all_chunks == r.clients and not r.error
            rows.append(
                [
                    "1000 clients connected and served",
                    f"{r.connected} connected, {r.all_chunks} served",
                    "1000 / 1000",
                    f"{r.all_chunks / r.clients:.2f}",
                    "PASS" if served else "FAIL",
                ]
            )
    if rows:
        print(table(["metric", "value", "target", "ratio", "verdict"], rows))
    else:
        print("(no round with 100 or 1000 clients)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--clients", default="1,100,1000", help="comma-separated client counts, one round each")
    parser.add_argument("--load-processes", type=int, default=1, help="processes the clients are spread over")
    parser.add_argument("--connect-batch", type=int, default=50, help="clients connecting/joining at once")
    parser.add_argument("--connect-timeout", type=float, default=240.0, help="time limit to connect a round's clients")
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=5)
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between model chunks")
    parser.add_argument("--keep-logs", action="store_true", help="keep the state folder with the process logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.chunks = "1,20", 50
    return args


if __name__ == "__main__":
    sys.exit(run_main(main(parse_args())))
