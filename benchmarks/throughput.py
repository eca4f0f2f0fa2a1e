"""Throughput and the concurrency cap under load: N tasks submitted at once, MAX_CONCURRENT_TASKS per host.

Per scenario a fresh stack (one API process under uvicorn, one worker per host, Redis live view, executor and
task idle times 0) and an instant scripted model. After a short warm-up, ``--tasks`` solo tasks are POSTed at
once (``--submit-concurrency`` requests in flight) and watched until every one is COMPLETED:

- concurrency: each worker's ``wegent_agent_slots_in_use{host}`` gauge is scraped every 200 ms (sampled), and
  the model server's request log gives the exact peak of model calls in flight (per host: each prompt carries
  its task's number, each worker log says which host started the task's sandbox). Never above the cap per host.
- queue: the task list is polled; every PENDING task must carry ``queuePosition``, and those positions must be
  1..k in creation order.
- tasks per minute: N / (first POST → last task seen COMPLETED).
- the floor, in the same run: N bare Temporal workflows with as many activities as a Wegent task ran (counted
  from a finished task's history), the agent-step activity calling the same model on a queue with the same cap
  (benchmarks/bare_floor.py, its worker a process of its own).
- memory: RSS of the API (with its uvicorn processes) and of each worker process at the end, and of the
  worker's children (the local backend's zygote and executors still alive).

    .venv/bin/python benchmarks/throughput.py [--quick] [--tasks 200] [--cap 5] [--scenarios local,two-hosts,docker]

Target: >= 400 tasks per minute on the local backend with one host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.bare_floor import BareTask
from benchmarks.common import (
    DOCKER_HOST_ALIAS,
    TEMPORAL_ADDRESS,
    BenchEnv,
    Stats,
    log,
    ms,
    print_footer,
    print_header,
    run_main,
    table,
)
from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelServer, max_concurrency
from tests.support.stack import Stack, free_port

TARGET_PER_MINUTE = 400.0
ANSWER = "ok, done."
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    label: str
    tasks: int
    cap: int
    hosts: list[str] = field(default_factory=list)
    seconds: float = math.nan
    submit_seconds: float = math.nan
    completed: int = 0
    failures: list[str] = field(default_factory=list)
    slots_sampled: dict[str, int] = field(default_factory=dict)  # host -> max gauge value seen
    model_peak: dict[str, int] = field(default_factory=dict)  # host (or "all") -> most model calls in flight
    spread: dict[str, int] = field(default_factory=dict)  # host -> tasks whose sandbox it started
    pending_peak: int = 0
    position_samples: int = 0
    position_errors: list[str] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)
    activities: list[str] = field(default_factory=list)  # one task's activities, in order
    phases: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # activity -> (queued, ran) s

    @property
    def per_minute(self) -> float:
        return self.tasks / self.seconds * 60 if self.seconds and not math.isnan(self.seconds) else math.nan


# ---------------------------------------------------------------------------------------------- probes


def fresh(model: ModelServer) -> None:
    """An empty request log and the instant answer (a reset forgets the script too)."""
    model.reset()
    model.script([{"match": "*", "text": ANSWER, "chunk_size": 4, "chunk_delay": 0}])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children.get(child, [])
    return found


def memory(stack: Stack) -> dict[str, float]:
    out: dict[str, float] = {}
    if stack.api is not None:
        pid = stack.api.proc.pid
        out["API (all uvicorn processes)"] = rss_mb(pid) + sum(rss_mb(c) for c in descendants(pid))
    for index, worker in enumerate(stack.workers):
        pid = worker.proc.pid
        out[f"worker {index}"] = rss_mb(pid)
        out[f"worker {index} children (zygote, executors)"] = sum(rss_mb(c) for c in descendants(pid))
    return out


_GAUGE = re.compile(r'^wegent_agent_slots_in_use\{host="([^"]+)"\} ([0-9.]+)$', re.M)


async def sample_slots(ports: list[int], result: Result, stop: asyncio.Event) -> None:
    """The worker's own count of running agent steps, scraped every 200 ms (more often costs the worker CPU)."""
    async with httpx.AsyncClient(timeout=2) as client:
        while not stop.is_set():
            for port in ports:
                try:
                    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.HTTPError:
                    continue
                for host, value in _GAUGE.findall(text):
                    result.slots_sampled[host] = max(result.slots_sampled.get(host, 0), int(float(value)))
            await asyncio.sleep(0.2)


def check_positions(items: list[dict[str, Any]], result: Result) -> None:
    pending = sorted((t for t in items if t["state"] == "PENDING"), key=lambda t: t["id"])
    result.pending_peak = max(result.pending_peak, len(pending))
    if not pending:
        return
    result.position_samples += 1
    positions = [t.get("queuePosition") for t in pending]
    if positions != list(range(1, len(pending) + 1)) and len(result.position_errors) < 3:
        result.position_errors.append(f"{len(pending)} PENDING, positions {positions[:8]}...")


def hosts_of_tasks(stack: Stack) -> dict[int, str]:
    """task id -> the host that started its sandbox, from the workers' JSON logs."""
    found: dict[int, str] = {}
    for worker in stack.workers:
        for line in worker.log_path.read_text(errors="replace").splitlines():
            if '"executor.started"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            found[int(entry["task_id"])] = entry["host"]
    return found


# ---------------------------------------------------------------------------------------------- Wegent


async def start_stack(env: BenchEnv, label: str, backend: str, hosts: int, cap: int) -> tuple[Stack, list[int]]:
    ports = [free_port() for _ in range(hosts)]
    settings = {
        "WEGENT_EXECUTOR_BACKEND": backend,
        "MAX_CONCURRENT_TASKS": str(cap),
        "WEGENT_EXECUTOR_IDLE_SECONDS": "0",
        "WEGENT_TASK_IDLE_SECONDS": "0",
        "WEGENT_WORKER_METRICS_HOST": "127.0.0.1",
        "WEGENT_WORKER_METRICS_PORT": str(ports[0]),
    }
    stack = await env.start_stack(f"tp-{label}", workers=1, **settings)
    for index in range(1, hosts):
        low = env.port_low + 100 * index + 1000  # each host its own executor ports (they share 127.0.0.1 here)
        extra = {
            "WEGENT_EXECUTOR_HOST": f"{stack.env['WEGENT_EXECUTOR_HOST']}-{index}",
            "WEGENT_WORKER_METRICS_PORT": str(ports[index]),
            "EXECUTOR_PORT_RANGE_MIN": str(low),
            "EXECUTOR_PORT_RANGE_MAX": str(low + 99),
        }
        await asyncio.to_thread(stack.start_worker, extra)
    deadline = time.monotonic() + 60
    while True:  # every host polls before the load starts (a host that joins late would get no work)
        listed = stack.request("GET", "/api/v1/admin/executors").json()["hosts"]
        if sum(1 for h in listed if h["online"]) >= hosts:
            break
        if time.monotonic() > deadline:
            tails = "\n".join(w.tail(20) for w in stack.workers)
            raise RuntimeError(f"only {listed} of {hosts} hosts announced themselves; worker logs:\n{tails}")
        await asyncio.sleep(0.5)
    return stack, ports


async def submit(http: httpx.AsyncClient, team: str, prompts: list[str], concurrency: int) -> list[int]:
    gate = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> int:
        async with gate:
            response = await http.post("/api/v1/tasks", json={"team": {"name": team}, "prompt": prompt})
            if response.status_code != 201:
                raise RuntimeError(f"POST /tasks {response.status_code}: {response.text[:200]}")
            return int(response.json()["id"])

    return list(await asyncio.gather(*(one(p) for p in prompts)))


async def watch(http: httpx.AsyncClient, team: str, ids: list[int], result: Result, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    while True:
        items = (await http.get("/api/v1/tasks", params={"team": team, "limit": 500})).json()["items"]
        mine = [t for t in items if t["id"] in wanted]
        check_positions(mine, result)
        done = [t for t in mine if t["state"] in ("COMPLETED", "FAILED", "CANCELLED")]
        if len(done) == len(wanted):
            result.completed = sum(1 for t in done if t["state"] == "COMPLETED")
            result.failures += [f"task {t['id']} {t['state']}: {t['error']}" for t in done if t["state"] != "COMPLETED"]
            return
        if time.monotonic() > deadline:
            result.completed = sum(1 for t in done if t["state"] == "COMPLETED")
            result.failures.append(f"{len(wanted) - len(done)} tasks unfinished after {timeout:.0f}s")
            return
        await asyncio.sleep(0.5)


async def phases_of(env: BenchEnv, workflow_id: str) -> dict[str, tuple[float, float]]:
    """Activity name -> (seconds queued, seconds running), from the workflow's history (first of each name)."""
    from temporalio.api.enums.v1 import EventType

    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    found: dict[str, tuple[float, float]] = {}
    async for event in env.temporal.get_workflow_handle(workflow_id).fetch_history_events():
        when = event.event_time.seconds + event.event_time.nanos / 1e9
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, when)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = when
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name, at = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            begun = started.get(event.activity_task_completed_event_attributes.scheduled_event_id, at)
            found.setdefault(name, (begun - at, when - begun))
    return found


async def activities_of(env: BenchEnv, workflow_id: str) -> list[str]:
    from temporalio.api.enums.v1 import EventType

    names = []
    async for event in env.temporal.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names.append(event.activity_task_scheduled_event_attributes.activity_type.name)
    return names


async def bench_wegent(
    env: BenchEnv, model: ModelServer, label: str, backend: str, hosts: int, args: argparse.Namespace
) -> Result:
    tasks = args.docker_tasks if backend == "docker" else args.tasks
    result = Result(label, tasks, args.cap)
    stack, metric_ports = await start_stack(env, label, backend, hosts, args.cap)
    base_url = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1" if backend == "docker" else model.openai_base_url
    prefix = f"tp{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(stack.apply, team_yaml(prefix, base_url, [{"bot": "solo"}], collaboration="solo"))
    team = f"{prefix}-team"
    try:
        async with httpx.AsyncClient(base_url=stack.url, headers=stack.headers, timeout=120) as http:
            warm = await submit(http, team, [f"warm-up {i}" for i in range(args.warmup)], args.warmup or 1)
            env.task_ids.update(warm)
            await watch(http, team, warm, Result("warm-up", len(warm), args.cap), 120)
            if warm:
                await env.wait_workflow_closed(f"task-{warm[0]}", 60)
                result.activities = await activities_of(env, f"task-{warm[0]}")
            fresh(model)
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_slots(metric_ports, result, stop))
            log(f"{label}: submitting {tasks} tasks")
            started = time.monotonic()
            ids = await submit(http, team, [f"[{label}:{i}] job {i}" for i in range(tasks)], args.submit_concurrency)
            result.submit_seconds = time.monotonic() - started
            env.task_ids.update(ids)
            await watch(http, team, ids, result, args.timeout)
            result.seconds = time.monotonic() - started
            stop.set()
            await sampler
            for task_id in ids[:: max(len(ids) // 20, 1)]:
                for name, (queued, running) in (await phases_of(env, f"task-{task_id}")).items():
                    result.phases.setdefault(name, []).append((queued, running))
        await asyncio.sleep(1.0)  # the last sandboxes are being removed
        result.rss_mb = memory(stack)
        host_by_task = await asyncio.to_thread(hosts_of_tasks, stack)
        result.hosts = sorted(set(host_by_task.values()))
        result.spread = dict(Counter(host_by_task[i] for i in ids if i in host_by_task))
        account(model.requests(), ids, label, host_by_task, result)
    finally:
        await asyncio.to_thread(stack.stop)
        env.stacks.remove(stack)
    log(f"{label}: {result.completed}/{tasks} completed in {result.seconds:.1f}s ({result.per_minute:.0f}/min)")
    return result


def account(requests: list[Any], ids: list[int], label: str, host_by_task: dict[int, str], result: Result) -> None:
    """Peak model calls in flight, overall and per host (a request's prompt names its task's index)."""
    marker = re.compile(rf"\[{re.escape(label)}:(\d+)\]")
    by_host: dict[str, list[Any]] = {}
    for request in requests:
        text = " ".join(str(m.get("content")) for m in request.messages)
        found = marker.search(text)
        host = host_by_task.get(ids[int(found.group(1))], "?") if found else "?"
        by_host.setdefault(host, []).append(request)
    result.model_peak = {"all": max_concurrency(requests)}
    result.model_peak.update({host: max_concurrency(reqs) for host, reqs in by_host.items()})


# ---------------------------------------------------------------------------------------------- floor


async def bench_floor(env: BenchEnv, model: ModelServer, activities: list[str], args: argparse.Namespace) -> Result:
    result = Result("bare Temporal", args.tasks, args.cap, activities=activities)
    queue = f"bare-{uuid.uuid4().hex[:6]}"
    agent_at = activities.index("run_agent_step") if "run_agent_step" in activities else 0
    before, after = agent_at, max(len(activities) - agent_at - 1, 0)
    command = [sys.executable, "-m", "benchmarks.bare_floor", "--address", TEMPORAL_ADDRESS]
    command += ["--namespace", env.namespace, "--queue", queue, "--cap", str(args.cap)]
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 60)
        client = env.temporal
        started = time.monotonic()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    "BareTaskWorkflow",
                    BareTask(f"bare {i}", model.openai_base_url, before, after, f"{queue}-agent"),
                    id=f"{queue}-{i}",
                    task_queue=queue,
                )
                for i in range(args.tasks)
            )
        )
        result.submit_seconds = time.monotonic() - started
        answers = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), args.timeout)
        result.seconds = time.monotonic() - started
        result.completed = sum(1 for a in answers if a == ANSWER)
        result.model_peak = {"all": max_concurrency(model.requests())}
        result.rss_mb = {"bare worker": rss_mb(worker.pid)}
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.wait, 15)
    log(f"floor: {result.completed}/{args.tasks} in {result.seconds:.1f}s ({result.per_minute:.0f}/min)")
    return result


# ---------------------------------------------------------------------------------------------- report


def report(results: list[Result], floor: Result | None) -> None:
    rows = []
    for r in [*results, *([floor] if floor else [])]:
        peaks = ", ".join(f"{h}: {v}" for h, v in sorted(r.model_peak.items()))
        slots = ", ".join(f"{v}" for _, v in sorted(r.slots_sampled.items())) or "-"
        rows.append(
            [
                r.label,
                f"{r.completed}/{r.tasks}",
                f"{r.seconds:.1f}",
                f"{r.per_minute:.0f}",
                f"{r.per_minute / floor.per_minute:.2f}" if floor and floor.per_minute else "-",
                f"{r.submit_seconds:.1f}",
                slots,
                peaks,
            ]
        )
    print(f"Throughput with MAX_CONCURRENT_TASKS={results[0].cap if results else '-'} per host (instant model)")
    headers = ["scenario", "done", "seconds", "tasks/min", "x floor", "submit s", "slots max (sampled)", "model peak"]
    print(table(headers, rows))
    print("\nQueue and placement")
    rows = []
    for r in results:
        positions = "ok" if not r.position_errors else "; ".join(r.position_errors)
        spread = ", ".join(f"{h}: {n}" for h, n in sorted(r.spread.items()))
        rows.append([r.label, str(r.pending_peak), f"{r.position_samples} samples, {positions}", spread])
    print(table(["scenario", "PENDING peak", "queuePosition 1..k in order", "tasks per host"], rows, left=True))
    print("\nMemory at the end (RSS MB)")
    rows = [
        [r.label, what, f"{mb:.0f}"] for r in [*results, *([floor] if floor else [])] for what, mb in r.rss_mb.items()
    ]
    print(table(["scenario", "process", "RSS MB"], rows))
    for r in results:
        if r.phases:
            sampled = len(r.phases.get("resolve_plan", []))
            print(f"\n{r.label}: activity queue wait and run time (ms, {sampled} tasks sampled from the history)")
            rows = []
            for name, values in r.phases.items():
                queued = Stats.of(q for q, _ in values)
                ran = Stats.of(x for _, x in values)
                rows.append([name, ms(queued.p50, 0), ms(queued.max, 0), ms(ran.p50, 0), ms(ran.max, 0)])
            print(table(["activity", "queued p50", "queued max", "ran p50", "ran max"], rows))
    if results and results[0].activities:
        print(f"\nActivities per solo task ({len(results[0].activities)}): {', '.join(results[0].activities)}")
    for r in results:
        for failure in r.failures[:10]:
            print(f"FAILED {r.label}: {failure}")
    local = next((r for r in results if r.label == "local"), None)
    if local is not None:
        verdict = "PASS" if local.per_minute >= TARGET_PER_MINUTE else "FAIL"
        print(f"\nlocal, one host: {local.per_minute:.0f} tasks/min (target >= {TARGET_PER_MINUTE:.0f}): {verdict}")


def cap_violations(results: list[Result]) -> list[str]:
    problems = []
    for r in results:
        for host, value in r.slots_sampled.items():
            if value > r.cap:
                problems.append(f"{r.label}: {value} agent steps at once on {host} (cap {r.cap})")
        for host, value in r.model_peak.items():
            limit = r.cap * (len(r.hosts) or 1) if host in ("all", "?") else r.cap
            if value > limit:
                problems.append(f"{r.label}: {value} model calls at once on {host} (limit {limit})")
    return problems


async def main(args: argparse.Namespace) -> int:
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    print_header(
        "Wegent throughput (benchmarks/throughput.py)",
        {
            "scenarios": ", ".join(scenarios),
            "tasks": f"{args.tasks} (Docker: {args.docker_tasks}), after {args.warmup} warm-up tasks",
            "MAX_CONCURRENT_TASKS": f"{args.cap} per host",
            "stack": "1 API process + 1 worker per host; idle times 0; Redis live view",
            "model": f"scripted, answer {ANSWER!r} at once",
            "target": f">= {TARGET_PER_MINUTE:.0f} tasks/min, local backend, one host",
        },
    )
    model = ModelServer(host="0.0.0.0").start()
    fresh(model)
    results: list[Result] = []
    floor: Result | None = None
    try:
        async with BenchEnv("throughput", keep_logs=args.keep_logs) as env:
            plan = {"local": ("local", 1), "two-hosts": ("local", 2), "docker": ("docker", 1)}
            for scenario in scenarios:
                backend, hosts = plan[scenario]
                results.append(await bench_wegent(env, model, scenario, backend, hosts, args))
            if not args.no_floor:
                fresh(model)
                activities = next((r.activities for r in results if r.activities), [])
                floor = await bench_floor(env, model, activities or ["x"] * 7, args)
    finally:
        model.stop()
    report(results, floor)
    print_footer()
    problems = cap_violations(results) + [f for r in results for f in r.failures]
    problems += [f"{r.label}: {e}" for r in results for e in r.position_errors]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run (40 tasks, local only)")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--docker-tasks", type=int, default=100)
    parser.add_argument("--cap", type=int, default=5, help="MAX_CONCURRENT_TASKS per host")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--submit-concurrency", type=int, default=20, help="POSTs in flight while submitting")
    parser.add_argument("--scenarios", default="local,two-hosts,docker", help="local, two-hosts, docker")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare Temporal workflows")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for all tasks of a scenario")
    parser.add_argument("--keep-logs", action="store_true", help="keep the state folder with the process logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.scenarios = 40, "local"
    return args


if __name__ == "__main__":
    sys.exit(run_main(main(parse_args())))
