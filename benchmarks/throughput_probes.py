"""How the throughput benchmark watches a run: the model's script and request log, the workers' slot gauges, the
queue positions, which host ran which task, the activities' times from the workflow histories and memory.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx

from benchmarks.environment import BenchEnv
from benchmarks.throughput_report import Result
from tests.support.model_server import ModelServer, max_concurrency
from tests.support.stack import Stack

ANSWER = "ok, done."


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
