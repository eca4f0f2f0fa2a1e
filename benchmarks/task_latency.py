"""Task latency: POST /api/v1/tasks → first model token, → COMPLETED; platform overhead per pipeline stage.

For each executor backend (Docker: a cold container per task, which is the design; local: a subprocess per
task), a stack (one API under uvicorn, one worker; WEGENT_EXECUTOR_IDLE_SECONDS=0, WEGENT_TASK_IDLE_SECONDS=0,
Redis for the live view) runs, one after the other, `--runs` rounds of three tasks against an instant
scripted model (tests.support.model_server, chunk_delay 0):

- solo: a one-member solo team.
- pipe1 / pipe3: a pipeline of 1 / 3 members (each stage passes the previous output on).

Measured per task, all on this host's wall clock (time.time()):

- t0: just before POST /api/v1/tasks is sent.
- first token at executor: the time the model server recorded the executor's chat request
  (RecordedRequest.time) − t0; the model answers its first token immediately after (no delay scripted).
- first chunk at client: a Socket.IO client (tests.support.chat_client) joins the task room (task:join) as
  soon as the POST returns; the receive time of the first chat:chunk − t0. Counted only when the join
  happened before any text was streamed (its `live` snapshot was empty).
- COMPLETED: the receive time of the task:status event with state COMPLETED (the client is in the user's
  room, where every state change is published) − t0; cross-checked with GET /api/v1/tasks/{id}.
- overhead per extra stage: (T3 − T1) / 2, with T1/T3 the COMPLETED latencies of pipe1/pipe3 of the same
  round; p50 over rounds. Also the gap between consecutive model requests of a pipe3 task.

Before the next task starts, the previous workflow must have closed (executor removed), so runs do not
overlap. A phase breakdown of the solo tasks comes from their Temporal workflow histories.

    .venv/bin/python benchmarks/task_latency.py [--quick] [--runs 20] [--backends docker,local]

Targets: first token p50 < 1.5 s (Docker, cold container) and < 0.5 s (local); overhead per stage p50 < 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.environment import DOCKER_HOST_ALIAS, BenchEnv, log, run_main, token_of
from benchmarks.machine import print_footer, print_header
from benchmarks.results import STATS_HEADERS, Stats, ms, ratio, stats_row, table, verdict
from benchmarks.task_timing import TimedChatClient, history_phases
from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelServer

TARGET_FIRST_TOKEN = {"docker": 1.5, "local": 0.5}
TARGET_STAGE_OVERHEAD = 0.150
ANSWER = "ok, done."
KINDS = ("solo", "pipe1", "pipe3")


@dataclass
class RunResult:
    kind: str
    task_id: int
    ok: bool
    error: str = ""
    post: float = math.nan  # POST round trip
    first_token: float = math.nan  # model request recorded − t0
    first_chunk: float = math.nan  # first chat:chunk at the client − t0 (nan when joined too late)
    completed: float = math.nan  # task:status COMPLETED at the client − t0
    stage_gaps: list[float] = field(default_factory=list)  # between consecutive model requests
    phases: dict[str, float] = field(default_factory=dict)  # from the Temporal history (solo runs)


# ---------------------------------------------------------------------------------------------- runs


async def run_task(
    env: BenchEnv,
    http: httpx.AsyncClient,
    chat: TimedChatClient,
    model: ModelServer,
    team: str,
    kind: str,
    timeout: float,
    with_phases: bool,
) -> RunResult:
    model.reset()
    prompt = f"bench {kind} {uuid.uuid4().hex[:8]}"
    t0 = time.time()
    response = await http.post("/api/v1/tasks", json={"team": {"name": team}, "prompt": prompt})
    post = time.time() - t0
    if response.status_code != 201:
        return RunResult(kind, 0, False, f"POST {response.status_code}: {response.text[:200]}")
    task_id = int(response.json()["id"])
    env.track_task(task_id)
    result = RunResult(kind, task_id, False, post=post)
    joined = await chat.call("task:join", {"task_id": task_id})
    joined_in_time = bool(joined.get("ok")) and not any(m.get("content") for m in joined.get("live") or [])

    done = await chat.wait_first("task:status", timeout, task_id=task_id, state="COMPLETED")
    if done is not None:
        result.completed = done[0] - t0
    detail = (await http.get(f"/api/v1/tasks/{task_id}")).json()
    if done is None or detail.get("state") != "COMPLETED":
        result.error = f"task {task_id} is {detail.get('state')} ({detail.get('error')}) after {timeout:.0f}s"
    await chat.call("task:leave", {"task_id": task_id})

    # Runs must not overlap: wait for the workflow to close (the executor is released just before).
    try:
        status = await env.wait_workflow_closed(f"task-{task_id}", timeout)
        if status != "COMPLETED":
            result.error = result.error or f"workflow task-{task_id} ended {status}"
    except TimeoutError as exc:
        result.error = result.error or str(exc)

    requests = model.requests()
    mine = [r for r in requests if r.path.endswith("/chat/completions")]
    if mine:
        result.first_token = mine[0].time - t0
        result.stage_gaps = [b.time - a.time for a, b in zip(mine, mine[1:], strict=False)]
    chunk = chat.first("chat:chunk", task_id=task_id)
    if chunk is not None and joined_in_time:
        result.first_chunk = chunk[0] - t0
    if with_phases and not result.error:
        result.phases = await history_phases(env, f"task-{task_id}", t0)
    result.ok = not result.error
    return result


async def bench_backend(
    env: BenchEnv, model: ModelServer, backend: str, args: argparse.Namespace
) -> dict[str, list[RunResult]]:
    stack = await env.start_stack(
        f"bench-{backend}",
        WEGENT_EXECUTOR_BACKEND=backend,
        WEGENT_EXECUTOR_IDLE_SECONDS="0",
        WEGENT_TASK_IDLE_SECONDS="0",
    )
    base_url = f"{model.url_for(DOCKER_HOST_ALIAS)}/v1" if backend == "docker" else model.openai_base_url
    teams = {}
    for kind, collaboration, bots in (
        ("solo", "solo", ["solo"]),
        ("pipe1", "pipeline", ["s1"]),
        ("pipe3", "pipeline", ["s1", "s2", "s3"]),
    ):
        prefix = f"{backend[:1]}{kind}"
        members = [{"bot": bot} for bot in bots]
        await asyncio.to_thread(stack.apply, team_yaml(prefix, base_url, members, collaboration=collaboration))
        teams[kind] = f"{prefix}-team"

    results: dict[str, list[RunResult]] = defaultdict(list)
    chat = await TimedChatClient(stack.url, token_of(stack.headers)).connect()
    deadline = time.monotonic() + args.max_minutes * 60
    try:
        async with httpx.AsyncClient(base_url=stack.url, headers=stack.headers, timeout=60) as http:
            for round_index in range(-args.warmup, args.runs):
                if time.monotonic() > deadline:
                    log(f"{backend}: time limit reached after {round_index} rounds")
                    break
                for kind in KINDS:
                    try:
                        result = await run_task(
                            env, http, chat, model, teams[kind], kind, args.task_timeout, kind == "solo"
                        )
                    except Exception as exc:  # noqa: BLE001 - one broken run is reported, the others go on
                        result = RunResult(kind, 0, False, f"run failed: {exc!r}")
                    if not result.ok:
                        log(f"{backend} {kind}: FAILED {result.error}")
                    if round_index >= 0:
                        results[kind].append(result)
                label = "warm-up" if round_index < 0 else f"round {round_index + 1}/{args.runs}"
                last = {k: results[k][-1] for k in KINDS if results[k]} if round_index >= 0 else {}
                summary = ", ".join(f"{k} {ms(r.completed, 0)} ms" for k, r in last.items())
                log(f"{backend} {label} done {summary}")
    finally:
        await chat.close()
        await asyncio.to_thread(stack.stop)
        env.stacks.remove(stack)
    return results


# ---------------------------------------------------------------------------------------------- report


def report(all_results: dict[str, dict[str, list[RunResult]]]) -> None:
    print("POST → first model token / first chunk at a Socket.IO client / COMPLETED (solo team, instant model)")
    rows = []
    for backend, results in all_results.items():
        ok = [r for r in results["solo"] if r.ok]
        rows.append(stats_row(f"{backend}: POST round trip", Stats.of(r.post for r in ok), 0))
        rows.append(stats_row(f"{backend}: first token at executor", Stats.of(r.first_token for r in ok), 0))
        chunks = [r.first_chunk for r in ok if not math.isnan(r.first_chunk)]
        rows.append(stats_row(f"{backend}: first chunk at client", Stats.of(chunks), 0))
        rows.append(stats_row(f"{backend}: COMPLETED at client", Stats.of(r.completed for r in ok), 0))
        failed = len(results["solo"]) - len(ok)
        if failed:
            rows.append([f"{backend}: failed runs", str(failed), "", "", "", "", ""])
    print(table(STATS_HEADERS, rows))

    print("\nPipelines (instant model): COMPLETED latency and platform overhead per extra stage")
    rows = []
    summary = []
    for backend, results in all_results.items():
        pairs = [(a, b) for a, b in zip(results["pipe1"], results["pipe3"], strict=False) if a.ok and b.ok]
        t1 = Stats.of(a.completed for a, _ in pairs)
        t3 = Stats.of(b.completed for _, b in pairs)
        overhead = Stats.of((b.completed - a.completed) / 2 for a, b in pairs)
        gaps = Stats.of(gap for _, b in pairs for gap in b.stage_gaps)
        rows.append(stats_row(f"{backend}: T1 (1-stage pipeline)", t1, 0))
        rows.append(stats_row(f"{backend}: T3 (3-stage pipeline)", t3, 0))
        rows.append(stats_row(f"{backend}: (T3 − T1)/2 per round", overhead, 0))
        rows.append(stats_row(f"{backend}: model request gap, stage k→k+1", gaps, 0))
        summary.append(
            [
                f"{backend}: overhead per extra stage p50",
                ms(overhead.p50, 0),
                f"{TARGET_STAGE_OVERHEAD * 1000:.0f}",
                ratio(overhead.p50, TARGET_STAGE_OVERHEAD),
                verdict(overhead.p50, TARGET_STAGE_OVERHEAD),
            ]
        )
        if pairs:
            rough = (t3.p50 - t1.p50) / 2
            summary.append([f"{backend}: (p50 T3 − p50 T1)/2, for reference", ms(rough, 0), "", "", ""])
    print(table(STATS_HEADERS, rows))

    print("\nSolo task phases from the Temporal workflow history (p50 ms over runs; server clock, same host)")
    backends = list(all_results)
    labels: list[str] = []
    for backend in backends:
        for r in all_results[backend]["solo"]:
            labels += [label for label in r.phases if label not in labels]
    rows = []
    for label in labels:
        row = [label]
        for backend in backends:
            values = [r.phases[label] for r in all_results[backend]["solo"] if label in r.phases]
            row.append(ms(Stats.of(values).p50, 0))
        rows.append(row)
    print(table(["phase", *backends], rows))

    print("\nAgainst the targets")
    first = []
    for backend, results in all_results.items():
        stats = Stats.of(r.first_token for r in results["solo"] if r.ok)
        target = TARGET_FIRST_TOKEN.get(backend, math.nan)
        first.append(
            [
                f"{backend}: first token p50",
                ms(stats.p50, 0),
                f"{target * 1000:.0f}",
                ratio(stats.p50, target),
                verdict(stats.p50, target),
            ]
        )
    print(table(["metric", "value ms", "target ms", "value/target", "verdict"], first + summary))


async def main(args: argparse.Namespace) -> int:
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    parameters = {
        "backends": ", ".join(backends) + " (one stack each, in turn: 1 API uvicorn process + 1 worker)",
        "stack settings": "WEGENT_EXECUTOR_IDLE_SECONDS=0, WEGENT_TASK_IDLE_SECONDS=0, Redis live view",
        "model": f"scripted OpenAI-compatible server, answer {ANSWER!r}, chunk_size 4, chunk_delay 0",
        "rounds": f"{args.runs} measured (+{args.warmup} warm-up) x [solo, pipe1, pipe3]",
        "Docker model URL": f"http://{DOCKER_HOST_ALIAS}:<port>/v1 (local: http://127.0.0.1:<port>/v1)",
        "per-task timeout": f"{args.task_timeout:.0f} s",
        "time limit per backend": f"{args.max_minutes:.0f} min",
        "targets": "first token p50 < 1.5 s Docker cold, < 0.5 s local; overhead per stage p50 < 150 ms",
    }
    print_header("Wegent task latency (benchmarks/task_latency.py)", parameters)
    if "docker" in backends:
        await asyncio.to_thread(check_docker_image)
    model = ModelServer(host="0.0.0.0").start()
    all_results: dict[str, dict[str, list[RunResult]]] = {}
    try:
        async with BenchEnv("tasks", keep_logs=args.keep_logs) as env:
            for backend in backends:
                model.script([{"match": "*", "text": ANSWER, "chunk_size": 4, "chunk_delay": 0}])
                all_results[backend] = await bench_backend(env, model, backend, args)
    finally:
        model.stop()
    report(all_results)
    print_footer()
    failures = sum(1 for results in all_results.values() for runs in results.values() for r in runs if not r.ok)
    return 1 if failures else 0


def check_docker_image() -> None:
    import docker
    from docker.errors import ImageNotFound

    client = docker.from_env()
    try:
        client.images.get("wegent-executor:latest")
    except ImageNotFound as exc:
        raise SystemExit("the executor image wegent-executor:latest is missing: run `make executor-image`") from exc
    finally:
        client.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=20, help="measured rounds per backend")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds per backend first")
    parser.add_argument("--backends", default="docker,local", help="comma-separated: docker, local")
    parser.add_argument("--task-timeout", type=float, default=120.0, help="seconds a task may take")
    parser.add_argument("--max-minutes", type=float, default=8.0, help="stop starting rounds after this per backend")
    parser.add_argument("--keep-logs", action="store_true", help="keep the state folder with the process logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.warmup = 3, 1
    return args


if __name__ == "__main__":
    sys.exit(run_main(main(parse_args())))
