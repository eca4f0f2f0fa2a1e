"""Resource API latency: GET one resource and LIST 100 resources, 20 concurrent keep-alive clients.

The API runs as production runs it: `wegent api --workers N` on MariaDB with Redis configured, N = this
machine's core count unless `--api-workers` says otherwise (1 gives the single-process figures).
One ordinary user owns 100 Ghosts plus a Model, a Shell, Bots and a Team (and the admin a few public
resources). After a warm-up that checks the answers, a single client measures the service time
(concurrency 1), then `--clients` asyncio tasks, each holding one keep-alive connection, send `--requests`
requests each back to back (closed loop), first all GETs, then all LISTs. Latency is measured in the client
from sending the request to having read the whole response. The load generator runs in this process on the
same machine, so it competes with the API for the CPUs; it uses a lean HTTP client
(benchmarks/http_load.py) rather than httpx for that reason, and its CPU use is reported.

    .venv/bin/python benchmarks/api_resources.py [--quick] [--clients 20] [--requests 250] [--api-workers N]

Target: p95 < 20 ms for each operation at 20 concurrent clients.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json

from benchmarks.environment import BenchEnv, create_user, log, run_main
from benchmarks.http_load import HttpError, LeanClient
from benchmarks.machine import print_footer, print_header, process_cpu_seconds
from benchmarks.results import STATS_HEADERS, Stats, ms, ratio, stats_row, table, verdict
from tests.support.stack import Stack

TARGET_P95 = 0.020  # seconds
GHOSTS = 100
LIST_PATH = f"/api/v1/namespaces/default/ghosts?limit={GHOSTS}"


def ghost_name(index: int) -> str:
    return f"bench-ghost-{index:03d}"


def seed_documents(count: int) -> str:
    """The user's resources: `count` Ghosts (a realistic system prompt each) and one small team around them."""
    prompt = (
        "You are a meticulous assistant for a software team. Answer precisely, cite the files you read, "
        "prefer small reversible changes, and say what you could not verify. "
    ) * 3
    docs: list[dict[str, Any]] = [
        {
            "kind": "Model",
            "metadata": {"name": "bench-model", "labels": {"tier": "bench"}},
            "spec": {"provider": "openai", "baseUrl": "http://127.0.0.1:9/v1", "model": "m", "apiKey": "sk-bench"},
        },
        {"kind": "Shell", "metadata": {"name": "bench-shell"}, "spec": {"shellType": "Chat"}},
    ]
    for index in range(count):
        docs.append(
            {
                "kind": "Ghost",
                "metadata": {"name": ghost_name(index), "labels": {"team": f"t{index % 7}", "bench": "yes"}},
                "spec": {"systemPrompt": f"{prompt}(persona {index})", "skills": ["review", "plan"]},
            }
        )
    members = []
    for index in range(5):
        docs.append(
            {
                "kind": "Bot",
                "metadata": {"name": f"bench-bot-{index}"},
                "spec": {
                    "ghostRef": {"name": ghost_name(index)},
                    "shellRef": {"name": "bench-shell"},
                    "modelRef": {"name": "bench-model"},
                },
            }
        )
        members.append({"botRef": {"name": f"bench-bot-{index}"}})
    docs.append(
        {
            "kind": "Team",
            "metadata": {"name": "bench-team"},
            "spec": {"collaborationModel": "pipeline", "members": members},
        }
    )
    return yaml.safe_dump_all(docs, sort_keys=False)


def public_documents() -> str:
    docs = [
        {
            "kind": "Model",
            "metadata": {"name": "bench-public-model"},
            "spec": {"provider": "openai", "baseUrl": "http://127.0.0.1:9/v1", "model": "m"},
        },
        {"kind": "Shell", "metadata": {"name": "bench-public-shell"}, "spec": {"shellType": "Chat"}},
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)


def seed(stack: Stack) -> dict[str, str]:
    """Create the user and the resources; return the user's auth headers."""
    applied = stack.request(
        "POST", "/api/v1/namespaces/default/apply", params={"scope": "public"}, content=public_documents().encode()
    )
    if applied.status_code != 200:
        raise RuntimeError(f"public apply failed: {applied.status_code} {applied.text}")
    _, headers = create_user(stack)
    stack.apply(seed_documents(GHOSTS), headers=headers)
    listed = stack.request("GET", LIST_PATH, headers=headers).json()
    if len(listed["items"]) != GHOSTS or {i["kind"] for i in listed["items"]} != {"Ghost"}:
        raise RuntimeError(f"seeding went wrong: LIST returned {len(listed['items'])} items")
    return headers


@dataclass
class Phase:
    label: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall: float = 0.0
    api_cpu: float = 0.0
    load_cpu: float = 0.0
    timed_out: bool = False

    def error(self, detail: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(detail)


def operation_paths(op: str) -> list[str]:
    if op == "get":
        return [f"/api/v1/namespaces/default/ghosts/{ghost_name(i)}" for i in range(GHOSTS)]
    return [LIST_PATH]


async def run_phase(
    label: str, clients: list[LeanClient], op: str, per_client: int, max_seconds: float, api_pid: int
) -> Phase:
    """Every client sends `per_client` requests back to back; stops early at the time limit."""
    phase = Phase(label)
    paths = operation_paths(op)
    deadline = time.monotonic() + max_seconds

    async def one_client(index: int, client: LeanClient) -> None:
        for i in range(per_client):
            if time.monotonic() > deadline:
                phase.timed_out = True
                return
            path = paths[(index * 7 + i) % len(paths)]
            started = time.perf_counter()
            try:
                status, body = await client.get(path)
                elapsed = time.perf_counter() - started
            except (HttpError, OSError, asyncio.IncompleteReadError) as exc:
                phase.error(f"{path}: {exc!r}")
                await client.aclose()  # the next request reconnects
                continue
            if status == 200:
                phase.latencies.append(elapsed)
            else:
                phase.error(f"{path}: HTTP {status} {body[:200]!r}")

    api_cpu0, load_cpu0 = process_cpu_seconds(api_pid), time.process_time()
    started = time.perf_counter()
    # The load generator's own garbage collections would stall all clients at once and show as API latency.
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(one_client(i, c) for i, c in enumerate(clients)))
    finally:
        gc.enable()
    phase.wall = time.perf_counter() - started
    phase.api_cpu = process_cpu_seconds(api_pid) - api_cpu0
    phase.load_cpu = time.process_time() - load_cpu0
    return phase


async def warm_up(clients: list[LeanClient], per_client: int) -> None:
    """Open every connection, fill caches and pools; check the answers."""
    for client in clients:
        await client.connect()
        status, body = await client.get(operation_paths("get")[0])
        got = json.loads(body)
        assert status == 200 and got["metadata"]["name"] == ghost_name(0), got
        status, body = await client.get(LIST_PATH)
        names = [item["metadata"]["name"] for item in json.loads(body)["items"]]
        assert status == 200 and names == [ghost_name(i) for i in range(GHOSTS)], names
    for op in ("get", "list"):
        paths = operation_paths(op)

        async def loop(index: int, client: LeanClient, paths: list[str] = paths) -> None:
            for i in range(per_client):
                status, body = await client.get(paths[(index + i) % len(paths)])
                if status != 200:
                    raise RuntimeError(f"warm-up: HTTP {status} {body[:200]!r}")

        await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))


async def main(args: argparse.Namespace) -> int:
    parameters = {
        "API": f"wegent api --workers {args.api_workers} (uvicorn), MariaDB, Redis configured",
        "API log level": args.log_level,
        "seeded": f"{GHOSTS} Ghosts + Model, Shell, 5 Bots, Team for one user; 2 public resources",
        "GET": "GET /api/v1/namespaces/default/ghosts/{name} (names round-robin)",
        "LIST": f"GET {LIST_PATH}",
        "clients": f"{args.clients} concurrent (asyncio, lean HTTP/1.1 client, one keep-alive connection each, "
        "closed loop)",
        "requests per client per operation": args.requests,
        "warm-up requests per client per operation": args.warmup,
        "single-client baseline requests": args.baseline,
        "time limit per phase": f"{args.max_seconds:.0f} s",
        "target": f"p95 < {TARGET_P95 * 1000:.0f} ms per operation at {args.clients} clients",
        "load generator": "this process, same machine (shares the CPUs with the API)",
    }
    print_header("Wegent resource API latency (benchmarks/api_resources.py)", parameters)
    async with BenchEnv("api", temporal=False, keep_logs=args.keep_logs, log_level=args.log_level) as env:
        stack = await env.start_stack("bench-api", workers=0, api_workers=args.api_workers)
        assert stack.api is not None
        api_pid = stack.api.proc.pid
        headers = await asyncio.to_thread(seed, stack)
        log("seeded; warming up")
        clients = [LeanClient(stack.url, headers) for _ in range(args.clients)]
        try:
            await warm_up(clients, args.warmup)
            phases: list[tuple[str, Phase]] = []
            if args.baseline:
                for op in ("get", "list"):
                    log(f"baseline {op.upper()} x{args.baseline}, 1 client")
                    phase = await run_phase(
                        f"{op.upper()} c=1", clients[:1], op, args.baseline, args.max_seconds, api_pid
                    )
                    phases.append((op, phase))
            for op in ("get", "list"):
                log(f"{op.upper()} x{args.requests} per client, {args.clients} clients")
                phase = await run_phase(
                    f"{op.upper()} c={args.clients}", clients, op, args.requests, args.max_seconds, api_pid
                )
                phases.append((op, phase))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        list_bytes = len((await asyncio.to_thread(stack.request, "GET", LIST_PATH, headers)).content)
        get_bytes = len((await asyncio.to_thread(stack.request, "GET", operation_paths("get")[0], headers)).content)

    rows = []
    summary = []
    for _, phase in phases:
        stats = Stats.of(phase.latencies)
        throughput = len(phase.latencies) / phase.wall if phase.wall else 0.0
        rows.append(
            [
                *stats_row(phase.label, stats, 2),
                str(phase.errors),
                f"{throughput:.0f}",
                f"{100 * phase.api_cpu / phase.wall:.0f}%",
                f"{100 * phase.load_cpu / phase.wall:.0f}%",
                f"{1000 * phase.api_cpu / max(1, len(phase.latencies) + phase.errors):.2f}",
                "yes" if phase.timed_out else "",
            ]
        )
        if phase.label.endswith(f"c={args.clients}"):
            summary.append(
                [
                    phase.label,
                    ms(stats.p95, 2),
                    f"{TARGET_P95 * 1000:.0f}",
                    ratio(stats.p95, TARGET_P95),
                    verdict(stats.p95, TARGET_P95),
                ]
            )
    print("Latency per request (client side) and throughput")
    print(
        table(
            [*STATS_HEADERS, "errors", "req/s", "API CPU", "load CPU", "API CPU ms/req", "time limit hit"],
            rows,
        )
    )
    print("\n(API CPU / load CPU: CPU time of the API processes / of this load generator over the phase's wall time;")
    print(" 100% = one core; API CPU ms/req: API CPU time per request, largely independent of")
    print(f" other load on the machine. Response sizes: GET {get_bytes} bytes, LIST {list_bytes} bytes.)")
    for _, phase in phases:
        for sample in phase.error_samples:
            print(f"error in {phase.label}: {sample}")
    print("\nAgainst the target")
    print(table(["operation", "p95 ms", "target ms", "p95/target", "verdict"], summary))
    print_footer()
    # Exit status: 0 when every request succeeded (a missed target is a result, not an error).
    return 1 if any(phase.errors for _, phase in phases) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--api-workers", type=int, default=os.cpu_count() or 1, help="API processes (default: cores)")
    parser.add_argument("--requests", type=int, default=250, help="requests per client per operation")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up requests per client per operation")
    parser.add_argument("--baseline", type=int, default=200, help="single-client requests per operation (0: skip)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="time limit per measured phase")
    parser.add_argument("--log-level", default="INFO", help="WEGENT_LOG_LEVEL of the API (production default INFO)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the state folder with the process logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.baseline, args.max_seconds = 20, 3, 30, 30.0
    return args


if __name__ == "__main__":
    sys.exit(run_main(main(parse_args())))
