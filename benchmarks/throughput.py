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
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.bare_floor import BareTask
from benchmarks.environment import DOCKER_HOST_ALIAS, TEMPORAL_ADDRESS, BenchEnv, log, run_main
from benchmarks.machine import print_footer, print_header
from benchmarks.throughput_probes import (
    ANSWER,
    account,
    activities_of,
    check_positions,
    fresh,
    hosts_of_tasks,
    memory,
    phases_of,
    rss_mb,
    sample_slots,
)
from benchmarks.throughput_report import TARGET_PER_MINUTE, Result, cap_violations, report
from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelServer, max_concurrency
from tests.support.stack import Stack, free_port

ROOT = Path(__file__).resolve().parents[1]


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


# ---------------------------------------------------------------------------------------------- the run


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
