"""Socket.IO fan-out: chunk latency and deliveries per core, 100 and 1000 viewers on ONE API process, with the floor.

Set-up: one stack (one `wegent api` process, one worker, local executors) with Redis, as in
tests/e2e/test_live_chat.py: the worker relays each (coalesced) chat event into the task's Redis stream (XADD)
and publishes it on the Socket.IO Redis channel; the API process emits it to the task room.

Per round with N viewers:

1. N viewers (benchmarks/fanout_clients.py: the Socket.IO protocol over aiohttp websockets, in load processes
   of their own, so the client library's cost does not land on the cores the API needs) connect with a token
   of the task owner.
2. A solo task is created (POST /api/v1/tasks). Its model request is held at a gate in front of the scripted
   model (tests.support.model_server), so nothing streams yet; every viewer joins the room (`task:join`).
3. The gate opens: the model streams `--chunks` deltas of `--chunk-size` characters, `--chunk-delay` apart
   (50/s by default). Each viewer records every chat:chunk (receive time − produced time) and its text.
4. The floor: the task's live log (what the worker relayed, with its timing) is replayed by a bare
   python-socketio server (benchmarks/fanout_floor.py, same uvicorn defaults) to N fresh viewers.

"Produced" is the event's `entry`: for Wegent the id Redis gave the stream entry when the worker appended it
(Redis's wall clock in ms; Redis runs on this host, the offset is printed), for the floor the time the event
was due in the replay. The latency covers worker XADD → Redis PUBLISH → API → websocket → viewer, not the
executor → worker hop, nor (for held text) the up to one coalescing window before the XADD. The id is truncated
to the millisecond (0–1 ms high).

Deliveries per core-second: chat:chunk events received by viewers / CPU seconds of the server process over the
stream. Wegent sends fewer, larger chunks when a room falls behind (README, Live chat), so its count is lower
for the same text; the ratio to the floor is per delivery.

    .venv/bin/python benchmarks/socket_fanout.py [--quick] [--clients 100,1000] [--load-processes 1]

Targets: every viewer gets the whole text; p95 < 50 ms at 100 viewers and < 500 ms at 1000; deliveries per API
core-second ≥ 0.7 × the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.environment import REDIS_URL, BenchEnv, log, run_main, token_of
from benchmarks.fanout_clients import LoadProcess, raise_fd_limit
from benchmarks.fanout_floor import FloorServer
from benchmarks.fanout_report import (
    TARGET_FLOOR_RATIO,
    TARGET_P95_AT_100,
    TARGET_P95_AT_1000,
    RoundResult,
    Side,
    report,
)
from benchmarks.machine import print_footer, print_header, process_cpu_seconds
from benchmarks.results import Stats, ms
from core.live_store import stream_key
from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelState, ScriptRule, ServerThread, create_app
from tests.support.stack import Stack

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


# ---------------------------------------------------------------------------------------------- rounds


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def connect(side: Side, loads: list[LoadProcess], url: str, token: str, clients: int, args: Any) -> list[Any]:
    active = [(load, share) for load, share in zip(loads, split(clients, len(loads)), strict=True) if share]
    replies = await asyncio.gather(
        *(
            load.call(
                "connect",
                args.connect_timeout + 30,
                url=url,
                token=token,
                count=share,
                batch=args.connect_batch,
                timeout=args.connect_timeout,
            )
            for load, share in active
        )
    )
    side.connected = sum(r["connected"] for r in replies)
    side.connect_seconds = max(r["seconds"] for r in replies)
    failures = [f for r in replies for f in r["failures"]]
    if failures:
        log(f"connect failures (first few): {failures}")
    return [load for load, _ in active]


async def join(side: Side, active: list[LoadProcess], task_id: int, args: Any) -> None:
    replies = await asyncio.gather(
        *(load.call("join", 300, task_id=task_id, batch=args.connect_batch) for load in active)
    )
    side.joined = sum(r["joined"] for r in replies)
    errors = [e for r in replies for e in r["errors"]]
    if errors:
        log(f"join errors (first few): {errors}")


async def collect(side: Side, active: list[LoadProcess], pid: int, text: str, start: Any, args: Any) -> None:
    """Start the stream (`start()`), wait for every viewer's chat:done, fill in the figures."""
    timeout = args.chunks * (args.chunk_delay + 0.002) * 3 + 60
    cpu0 = process_cpu_seconds(pid)
    started = time.perf_counter()
    await start()
    replies = await asyncio.gather(
        *(load.call("collect", timeout + 60, expected_text=text, timeout=timeout) for load in active)
    )
    side.server_cpu = process_cpu_seconds(pid) - cpu0
    window = time.perf_counter() - started
    side.stream_seconds = max(r["seconds"] for r in replies)
    side.load_cpu = sum(r["cpu"] for r in replies) / window
    side.done = sum(r["done"] for r in replies)
    side.complete = sum(r["complete"] for r in replies)
    side.chunks_received = sum(r["chunks_received"] for r in replies)
    side.latency = Stats.of(x / 1000 for r in replies for x in r["latencies_ms"])
    side.first_chunk = Stats.of(x / 1000 for r in replies for x in r["first_chunk_ms"])
    side.last_chunk = Stats.of(x / 1000 for r in replies for x in r["last_chunk_ms"])
    side.lag = Stats.of(x / 1000 for r in replies for x in r["lag_ms"])


async def disconnect(active: list[LoadProcess], args: Any) -> None:
    await asyncio.gather(
        *(load.call("disconnect", 300, batch=args.connect_batch) for load in active), return_exceptions=True
    )


async def wegent_round(
    env: BenchEnv, stack: Stack, model: GatedModel, loads: list[LoadProcess], clients: int, text: str, args: Any
) -> tuple[Side, int]:
    side = Side()
    assert stack.api is not None
    active: list[LoadProcess] = []
    task_id = 0
    try:
        log(f"wegent, {clients} clients: connecting")
        active = await connect(side, loads, stack.url, token_of(stack.headers), clients, args)
        model.close_gate()
        async with httpx.AsyncClient(base_url=stack.url, headers=stack.headers, timeout=60) as http:
            response = await http.post("/api/v1/tasks", json={"team": {"name": "fan-team"}, "prompt": "stream please"})
            response.raise_for_status()
            task_id = int(response.json()["id"])
            env.track_task(task_id)
            await join(side, active, task_id, args)
            deadline = time.monotonic() + 120
            while model.waiting < 1:  # the executor is up and its model request waits at the gate
                if time.monotonic() > deadline:
                    raise TimeoutError("the task's model request never arrived")
                await asyncio.sleep(0.05)

            async def open_gate() -> None:
                model.open_gate()

            log(f"wegent, {clients} clients: streaming {args.chunks} deltas")
            await collect(side, active, stack.api.proc.pid, text, open_gate, args)
            # The task must finish and its workflow close before the next round.
            await env.wait_workflow_closed(f"task-{task_id}", 120)
            state = (await http.get(f"/api/v1/tasks/{task_id}")).json()["state"]
            if state != "COMPLETED":
                side.error = f"task {task_id} ended {state}"
    except Exception as exc:  # noqa: BLE001 - report the round as failed, keep going
        side.error = side.error or repr(exc)
        log(f"wegent, {clients} clients: round failed: {exc!r}")
    finally:
        model.open_gate()
        await disconnect(active, args)
    return side, task_id


async def recorded_events(env: BenchEnv, task_id: int) -> list[list[Any]]:
    """The task's live log as [seconds since the first entry, event, payload]: what the floor replays."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        entries = await client.xrange(stream_key(env.redis_prefix, task_id))
    finally:
        await client.aclose()
    if not entries:
        return []
    first = int(entries[0][0].split("-")[0])
    return [[(int(i.split("-")[0]) - first) / 1000, f["event"], json.loads(f["data"])] for i, f in entries]


async def floor_round(
    floor: FloorServer,
    loads: list[LoadProcess],
    clients: int,
    task_id: int,
    events: list[list[Any]],
    text: str,
    args: Any,
) -> Side:
    side = Side()
    active: list[LoadProcess] = []
    try:
        log(f"floor, {clients} clients: connecting")
        active = await connect(side, loads, floor.url, "floor", clients, args)
        await join(side, active, task_id, args)

        async def play() -> None:
            async with httpx.AsyncClient(timeout=60) as http:
                (await http.post(f"{floor.url}/play", json={"task_id": task_id, "events": events})).raise_for_status()

        await collect(side, active, floor.pid, text, play, args)
    except Exception as exc:  # noqa: BLE001
        side.error = repr(exc)
        log(f"floor, {clients} clients: round failed: {exc!r}")
    finally:
        await disconnect(active, args)
    return side


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
        "machine": "2 cores shared by API, worker, executor, Redis, Temporal, floor server and load processes",
        "API": "1 uvicorn process (api.main:app), Redis manager + Redis live log; 1 worker; local executors",
        "floor": "bare python-socketio AsyncServer under uvicorn (benchmarks/fanout_floor.py), replaying the "
        "round's recorded live log to the same number of viewers, right after Wegent's round",
        "client counts": ", ".join(map(str, counts)),
        "viewers": "minimal Socket.IO protocol clients over aiohttp websockets (benchmarks/fanout_clients.py), all "
        "in the task room (task:join) before streaming",
        "load processes": f"{args.load_processes} (viewers split evenly; one asyncio loop each)",
        "stream": f"{args.chunks} deltas x {args.chunk_size} chars, {args.chunk_delay * 1000:.0f} ms apart "
        f"({1 / args.chunk_delay:.0f}/s); Wegent coalesces them per WEGENT_STREAM_WINDOW_MS",
        "latency": "viewer receive time.time() − entry ms (Redis XADD in the worker relay; emit time on the floor)",
        "clock check": f"Redis TIME − local time.time() = {offset:+.2f} ms",
        "targets": f"every viewer gets the whole text; chunk p95 < {TARGET_P95_AT_100 * 1000:.0f} ms at 100, "
        f"< {TARGET_P95_AT_1000 * 1000:.0f} ms at 1000; deliveries per API core-second >= "
        f"{TARGET_FLOOR_RATIO} x the floor's",
    }
    print_header("Wegent Socket.IO fan-out (benchmarks/socket_fanout.py)", parameters)
    soft = raise_fd_limit(4096)
    if soft < max(counts) + 256:
        log(f"warning: open-file limit {soft} may be too low for {max(counts)} clients")
    model = GatedModel().start()
    floor = FloorServer()
    loads: list[LoadProcess] = []
    results: list[RoundResult] = []
    try:
        await floor.ready()
        async with BenchEnv("fanout", keep_logs=args.keep_logs) as env:
            stack = await env.start_stack(
                "bench-fanout",
                WEGENT_EXECUTOR_BACKEND="local",
                WEGENT_EXECUTOR_IDLE_SECONDS="0",
                WEGENT_TASK_IDLE_SECONDS="0",
                **({"WEGENT_STREAM_WINDOW_MS": str(args.window_ms)} if args.window_ms is not None else {}),
            )
            model.state.script(
                [ScriptRule(match="*", text=text, chunk_size=args.chunk_size, chunk_delay=args.chunk_delay)]
            )
            await asyncio.to_thread(
                stack.apply, team_yaml("fan", model.openai_base_url, [{"bot": "talker"}], collaboration="solo")
            )
            loads = [LoadProcess(i) for i in range(args.load_processes)]
            for clients in counts:
                result = RoundResult(clients)
                result.wegent, task_id = await wegent_round(env, stack, model, loads, clients, text, args)
                events = await recorded_events(env, task_id) if task_id else []
                result.events = sum(1 for _, name, _ in events if name == "chat:chunk")
                if events:
                    result.floor = await floor_round(floor, loads, clients, task_id, events, text, args)
                results.append(result)
                log(
                    f"{clients} clients: wegent complete {result.wegent.complete}, p95 "
                    f"{ms(result.wegent.latency.p95)} ms; floor complete {result.floor.complete}, p95 "
                    f"{ms(result.floor.latency.p95)} ms {result.wegent.error} {result.floor.error}"
                )
    finally:
        for load in loads:
            await asyncio.to_thread(load.stop)
        floor.stop()
        model.stop()
    report(results, args)
    print_footer()
    return 1 if any(r.wegent.error or r.floor.error for r in results) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--clients", default="100,1000", help="comma-separated client counts, one round each")
    parser.add_argument("--load-processes", type=int, default=1, help="processes the clients are spread over")
    parser.add_argument("--connect-batch", type=int, default=50, help="clients connecting/joining at once")
    parser.add_argument("--connect-timeout", type=float, default=240.0, help="time limit to connect a round's clients")
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=5)
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between model chunks")
    parser.add_argument("--window-ms", type=int, default=None, help="WEGENT_STREAM_WINDOW_MS for the API's stack")
    parser.add_argument("--keep-logs", action="store_true", help="keep the state folder with the process logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.chunks = "10,50", 50
    return args


if __name__ == "__main__":
    sys.exit(run_main(main(parse_args())))
