"""First token against the floor: Wegent's new task, follow-up and pipeline stages next to bare Temporal.

In ONE run, per executor backend, against one scripted model (tests.support.model_server, instant answers):

- floor: a bare Temporal workflow (benchmarks/floor_workflow.py) on a worker in this process, one activity
  streaming the model's answer (1 stage), and three in a row (3 stages). No database, sandbox or relay.
- chat:send: a new solo task sent over Socket.IO as the web app does; the first chat:chunk at that client.
- POST /tasks: a new solo task over REST, the client joining the task's room at once; its first chunk.
- follow-up: chat:send into the task just answered (its sandbox still warm); the first chunk of turn 2.
- pipe1 / pipe3: pipelines of 1 and 3 members; COMPLETED at the client; (T3 − T1) / 2 per extra stage, next
  to the floor's (F3 − F1) / 2.

Times are this host's wall clock (time.time()) from just before the request to the event. The stack is one
API and one worker with a warm pool (WEGENT_EXECUTOR_POOL_SIZE, default here 2); before each new task the run
waits (up to 20 s) until the host shows a warm sandbox, and reports how many tasks got one.

    .venv/bin/python benchmarks/first_token.py [--runs 20] [--backends local,docker] [--pool 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from temporalio import activity
from temporalio.worker import Worker

from benchmarks.environment import DOCKER_HOST_ALIAS, BenchEnv, log, run_main, token_of
from benchmarks.floor_workflow import BareFloor, FloorCall, FloorInput, FloorResult
from benchmarks.machine import print_footer, print_header
from benchmarks.results import STATS_HEADERS, Stats, ms, stats_row, table
from benchmarks.task_latency import check_docker_image
from benchmarks.task_timing import STAGE_PARTS, TimedChatClient, history_phases, stage_phases
from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelServer
from workflows.activity_names import RUN_AGENT_STEP

ANSWER = "ok, done."
TARGETS = {"local": {"new": 0.100, "follow": 0.060}, "docker": {"new": 0.250, "follow": 0.060}}
TARGET_STAGE = 0.040
REMAINING = [
    ("POST/chat:send → workflow started", "the task row and its workflow are created durably before any answer"),
    ("first workflow task", "the worker runs the workflow; the plan and the warm take are one local activity"),
    ("start_executor (host queue)", "only without a warm sandbox: a cold start on the chosen host"),
    ("run_agent_step (agent queue)", "the per-host slot limit (MAX_CONCURRENT_TASKS) is this queue's slots"),
    ("per extra stage", "one run_agent_step round trip: each stage is its own durable, retryable step"),
]


@activity.defn(name="floor_model_call")
async def floor_model_call(call: FloorCall) -> FloorResult:
    first, text = math.nan, []
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": call.prompt}]}
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:  # a client per call, as the executor
        async with client.stream("POST", call.url, json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                if math.isnan(first):
                    first = time.time()
                text.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
    return FloorResult(first_chunk=first, done=time.time(), text="".join(text))


async def floor_once(env: BenchEnv, queue: str, model: ModelServer, stages: int) -> dict[str, Any]:
    model.reset()
    t0 = time.time()
    workflow_id = f"floor-{uuid.uuid4().hex}"
    results = await env.temporal.execute_workflow(
        BareFloor.run,
        FloorInput(
            url=f"{model.openai_base_url}/chat/completions", prompt=f"floor {uuid.uuid4().hex[:6]}", stages=stages
        ),
        id=workflow_id,
        task_queue=queue,
        result_type=list[FloorResult],
    )
    requests = [r for r in model.requests() if r.path.endswith("/chat/completions")]
    return {
        "request": requests[0].time - t0 if requests else math.nan,
        "first": results[0].first_chunk - t0,
        "done": results[-1].done - t0,
        "workflow_id": workflow_id,
    }


class Round:
    def __init__(self, env: BenchEnv, stack: Any, chat: TimedChatClient, http: httpx.AsyncClient) -> None:
        self.env, self.stack, self.chat, self.http = env, stack, chat, http

    async def wait_warm(self, timeout: float = 20.0) -> None:
        """Until the worker has a warm sandbox ready (its log says so: ready more often than handed out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stack.workers[0].log_path.read_text(errors="replace")
            offered = text.count('"pool.assigned"') + text.count('"pool.assign_failed"')
            if text.count('"pool.ready"') > offered:
                return
            await asyncio.sleep(0.05)

    async def first_chunk_after(self, task_id: int, since: float, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stamp, event, data in self.chat.stamped:
                if event == "chat:chunk" and data.get("task_id") == task_id and stamp >= since:
                    return stamp - since
            await asyncio.sleep(0.005)
        return math.nan

    async def completed(self, task_id: int, since: float, timeout: float = 60.0) -> float:
        done = await self.chat.wait_first("task:status", timeout, task_id=task_id, state="COMPLETED")
        return done[0] - since if done else math.nan

    async def chat_send(self, team: str, model: ModelServer) -> dict[str, float]:
        model.reset()
        t0 = time.time()
        ack = await self.chat.call("chat:send", {"team": team, "message": f"new {uuid.uuid4().hex[:6]}"})
        task_id = int(ack["task_id"])
        self.env.track_task(task_id)
        first = await self.first_chunk_after(task_id, t0)
        requests = model.requests()
        out = {"task": task_id, "t0": t0, "request": requests[0].time - t0 if requests else math.nan, "first": first}
        await self.completed(task_id, t0)
        # The follow-up: as soon as the turn is over (the workflow accepts it once it is between turns).
        for _ in range(100):
            t1 = time.time()
            ack = await self.chat.call("chat:send", {"task_id": task_id, "message": f"more {uuid.uuid4().hex[:6]}"})
            if ack.get("ok"):
                break
            await asyncio.sleep(0.02)
        out["follow"] = await self.first_chunk_after(task_id, t1)
        return out

    async def post(self, team: str) -> dict[str, float]:
        t0 = time.time()
        response = await self.http.post("/api/v1/tasks", json={"team": {"name": team}, "prompt": "bench"})
        task_id = int(response.json()["id"])
        self.env.track_task(task_id)
        joined = await self.chat.call("task:join", {"task_id": task_id})
        in_time = not any(m.get("content") for m in joined.get("live") or [])
        first = await self.first_chunk_after(task_id, t0) if in_time else math.nan
        done = await self.completed(task_id, t0)
        await self.chat.call("task:leave", {"task_id": task_id})
        return {"task": task_id, "first": first, "done": done}


def warm_assignments(stack: Any) -> set[str]:
    found = set()
    for line in stack.workers[0].log_path.read_text(errors="replace").splitlines():
        if '"pool.assigned"' in line:
            try:
                found.add(json.loads(line)["workflow_id"])
            except (ValueError, KeyError):
                continue
    return found


async def bench_backend(env: BenchEnv, model: ModelServer, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    stack = await env.start_stack(
        f"first-{backend}",
        WEGENT_EXECUTOR_BACKEND=backend,
        WEGENT_EXECUTOR_POOL_SIZE=str(args.pool),
        WEGENT_EXECUTOR_IDLE_SECONDS="3",
        WEGENT_TASK_IDLE_SECONDS="3",
    )
    base_url = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1" if backend == "docker" else model.openai_base_url
    teams = {}
    for kind, collaboration, bots in (
        ("solo", "solo", ["solo"]),
        ("pipe1", "pipeline", ["s1"]),
        ("pipe3", "pipeline", ["s1", "s2", "s3"]),
    ):
        prefix = f"ft{backend[:1]}{kind}"
        await asyncio.to_thread(
            stack.apply, team_yaml(prefix, base_url, [{"bot": b} for b in bots], collaboration=collaboration)
        )
        teams[kind] = f"{prefix}-team"
    queue = f"floor-{uuid.uuid4().hex[:8]}"
    samples: dict[str, list[float]] = defaultdict(list)
    tasks: list[int] = []
    phases: list[dict[str, float]] = []
    stage_parts: dict[str, list[dict[str, float]]] = {"Wegent": [], "floor": []}
    chat = await TimedChatClient(stack.url, token_of(stack.headers)).connect()
    deadline = time.monotonic() + args.max_minutes * 60
    try:
        async with (
            Worker(env.temporal, task_queue=queue, workflows=[BareFloor], activities=[floor_model_call]),
            httpx.AsyncClient(base_url=stack.url, headers=stack.headers, timeout=60) as http,
        ):
            rnd = Round(env, stack, chat, http)
            for index in range(-args.warmup, args.runs):
                if time.monotonic() > deadline:
                    log(f"{backend}: time limit reached after {index} rounds")
                    break
                measured = index >= 0
                f1 = await floor_once(env, queue, model, 1)
                f3 = await floor_once(env, queue, model, 3)
                await rnd.wait_warm()
                sent = await rnd.chat_send(teams["solo"], model)
                await rnd.wait_warm()
                posted = await rnd.post(teams["solo"])
                await rnd.wait_warm()
                p1 = await rnd.post(teams["pipe1"])
                await rnd.wait_warm()
                p3 = await rnd.post(teams["pipe3"])
                if not measured:
                    continue
                with contextlib.suppress(Exception):  # the server-side view of the same chat:send task
                    phases.append(await history_phases(env, f"task-{int(sent['task'])}", sent["t0"]))
                with contextlib.suppress(Exception):  # where a stage's time goes, Wegent's and the floor's
                    stage_parts["Wegent"].append(await stage_phases(env, f"task-{int(p3['task'])}", RUN_AGENT_STEP))
                    stage_parts["floor"].append(await stage_phases(env, f3["workflow_id"], "floor_model_call"))
                tasks += [int(sent["task"]), int(posted["task"]), int(p1["task"]), int(p3["task"])]
                for key, value in (
                    ("floor request", f1["request"]),
                    ("floor first", f1["first"]),
                    ("floor stage", (f3["done"] - f1["done"]) / 2),
                    ("chat request", sent["request"]),
                    ("chat first", sent["first"]),
                    ("follow first", sent["follow"]),
                    ("post first", posted["first"]),
                    ("wegent stage", (p3["done"] - p1["done"]) / 2),
                    # Paired with the floor of the same round: robust to the machine's load drifting.
                    ("paired new", sent["first"] - f1["first"]),
                    ("paired follow", sent["follow"] - f1["first"]),
                    ("paired stage", (p3["done"] - p1["done"]) / 2 - (f3["done"] - f1["done"]) / 2),
                ):
                    if not math.isnan(value):
                        samples[key].append(value)
                log(
                    f"{backend} round {index + 1}/{args.runs}: chat:send first {ms(sent['first'], 0)} ms, "
                    f"floor {ms(f1['first'], 0)} ms, follow-up {ms(sent['follow'], 0)} ms"
                )
    finally:
        await chat.close()
        warm = warm_assignments(stack)
        await asyncio.to_thread(stack.stop)
        env.stacks.remove(stack)
    warm_count = sum(1 for t in tasks if f"task-{t}" in warm)
    return {"samples": samples, "warm": warm_count, "tasks": len(tasks), "phases": phases, "stages": stage_parts}


def report(results: dict[str, dict[str, Any]]) -> None:
    print("Latency from the request to the event (ms; instant scripted model)")
    rows = []
    labels = {
        "floor request": "floor: model request (bare workflow, 1 activity)",
        "floor first": "floor: first chunk in the activity",
        "chat request": "chat:send: model request at the model",
        "chat first": "chat:send: first chunk at the client",
        "post first": "POST /tasks: first chunk at the client",
        "follow first": "follow-up chat:send: first chunk",
        "floor stage": "floor: per extra stage (F3 − F1)/2",
        "wegent stage": "Wegent: per extra stage (T3 − T1)/2",
        "paired new": "chat:send first chunk − floor, same round",
        "paired follow": "follow-up first chunk − floor, same round",
        "paired stage": "per extra stage − floor's, same round",
    }
    for backend, result in results.items():
        for key, label in labels.items():
            rows.append(stats_row(f"{backend}: {label}", Stats.of(result["samples"][key]), 0))
        rows.append(
            [f"{backend}: tasks that got a warm sandbox", f"{result['warm']}/{result['tasks']}", "", "", "", "", ""]
        )
    print(table(STATS_HEADERS, rows))

    print("\nAgainst the floor and the targets (p50)")
    rows = []
    for backend, result in results.items():
        s = {k: Stats.of(v) for k, v in result["samples"].items()}
        floor_first, floor_stage = s["floor first"].p50, s["floor stage"].p50
        paired = {k: s[k].p50 if k in s else math.nan for k in ("paired new", "paired follow", "paired stage")}
        for label, value, floor, target, extra in (
            (
                "chat:send → first chunk",
                s["chat first"].p50,
                floor_first,
                TARGETS[backend]["new"],
                paired["paired new"],
            ),
            ("POST /tasks → first chunk", s["post first"].p50, floor_first, TARGETS[backend]["new"], math.nan),
            (
                "follow-up → first chunk",
                s["follow first"].p50,
                floor_first,
                TARGETS[backend]["follow"],
                paired["paired follow"],
            ),
            ("per extra pipeline stage", s["wegent stage"].p50, floor_stage, TARGET_STAGE, paired["paired stage"]),
        ):
            extra = value - floor if math.isnan(extra) else extra  # paired with the same round's floor if known
            rows.append(
                [
                    f"{backend}: {label}",
                    ms(value, 0),
                    ms(floor, 0),
                    ms(extra, 0),
                    f"{value / floor:.1f}x" if floor > 0 else "",
                    f"{target * 1000:.0f}",
                    "ok" if value <= target else "over",
                ]
            )
    print(table(["metric", "Wegent ms", "floor ms", "extra ms (paired p50)", "ratio", "target ms", "verdict"], rows))
    print("\nThe chat:send task's phases from its Temporal history (p50 ms; first occurrence of each activity)")
    names: list[str] = []
    for result in results.values():
        for run in result["phases"]:
            names += [n for n in run if n not in names]
    rows = [
        [n, *(ms(Stats.of(r[n] for r in res["phases"] if n in r).p50, 0) for res in results.values())] for n in names
    ]
    print(table(["phase", *results], rows))
    print("\nAn extra pipeline stage from the workflow histories (p50 ms of the mean over stages 2 and 3)")
    rows = []
    for backend, result in results.items():
        for part in STAGE_PARTS:
            rows.append(
                [
                    f"{backend}: {part}",
                    *(ms(Stats.of(r[part] for r in runs if part in r).p50, 1) for runs in result["stages"].values()),
                ]
            )
    print(table(["part", "Wegent", "floor"], rows))
    print("\nRound trips that remain before the first token, and why")
    print(table(["round trip", "why it is needed"], REMAINING, left=True))


async def main(args: argparse.Namespace) -> int:
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print_header(
        "Wegent first token against bare Temporal (benchmarks/first_token.py)",
        {
            "backends": ", ".join(backends) + " (one stack each: 1 API + 1 worker)",
            "warm pool": f"WEGENT_EXECUTOR_POOL_SIZE={args.pool}",
            "stack settings": "WEGENT_EXECUTOR_IDLE_SECONDS=3, WEGENT_TASK_IDLE_SECONDS=3, Redis live view",
            "model": f"scripted OpenAI-compatible server, answer {ANSWER!r}, chunk_size 4, chunk_delay 0",
            "rounds": f"{args.runs} measured (+{args.warmup} warm-up)",
            "floor": "bare Temporal workflow, sandboxed, on a worker in this process; 1 and 3 activities",
        },
    )
    if "docker" in backends:
        await asyncio.to_thread(check_docker_image)
    model = ModelServer(host="0.0.0.0").start()
    results: dict[str, dict[str, Any]] = {}
    try:
        async with BenchEnv("first-token", keep_logs=args.keep_logs) as env:
            for backend in backends:
                model.script([{"match": "*", "text": ANSWER, "chunk_size": 4, "chunk_delay": 0}])
                results[backend] = await bench_backend(env, model, backend, args)
    finally:
        model.stop()
    report(results)
    print_footer()
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="measured rounds per backend")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--backends", default="local,docker")
    parser.add_argument("--pool", type=int, default=2, help="WEGENT_EXECUTOR_POOL_SIZE of the stack")
    parser.add_argument("--max-minutes", type=float, default=8.0)
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run_main(main(parse_args())))
