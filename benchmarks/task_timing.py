"""Timing a task from both ends: a chat client that stamps every event with its receive time, and the phases
of the task's workflow (queue waits, run times, gaps between workflow tasks) read from its Temporal history.

Shared by benchmarks/task_latency.py and benchmarks/first_token.py.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from benchmarks.environment import BenchEnv
from tests.support.chat_client import ChatClient


class TimedChatClient(ChatClient):
    """ChatClient that also stamps every event with its receive time."""

    def __init__(self, url: str, token: str) -> None:
        self.stamped: list[tuple[float, str, dict[str, Any]]] = []
        super().__init__(url, token)

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        async def record(data: dict[str, Any]) -> None:
            self.stamped.append((time.time(), name, data))
            self.events.append((name, data))
            self.changed.set()

        return record

    def first(self, name: str, **match: Any) -> tuple[float, dict[str, Any]] | None:
        for stamp, event, data in self.stamped:
            if event == name and all(data.get(k) == v for k, v in match.items()):
                return stamp, data
        return None

    async def wait_first(self, name: str, timeout: float, **match: Any) -> tuple[float, dict[str, Any]] | None:
        deadline = time.monotonic() + timeout
        while True:
            found = self.first(name, **match)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
            except TimeoutError:
                pass


def _ts(stamp: Any) -> float:
    return stamp.seconds + stamp.nanos / 1e9


async def _activity_spans(env: BenchEnv, workflow_id: str) -> tuple[float, list[tuple[str, float, float, float]]]:
    """The workflow's start and each activity's (name, scheduled, started, closed), in scheduling order."""
    from temporalio.api.enums.v1 import EventType

    handle = env.temporal.get_workflow_handle(workflow_id)
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    spans: list[tuple[str, float, float, float]] = []
    workflow_started = math.nan
    closed_types = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
    }
    async for event in handle.fetch_history_events():
        when = _ts(event.event_time)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            workflow_started = when
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, when)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = when
        elif event.event_type in closed_types:
            attrs = getattr(event, closed_types[event.event_type])
            name, sched = scheduled[attrs.scheduled_event_id]
            spans.append((name, sched, started.get(attrs.scheduled_event_id, math.nan), when))
    return workflow_started, sorted(spans, key=lambda span: span[1])


async def history_phases(env: BenchEnv, workflow_id: str, t0: float) -> dict[str, float]:
    """Durations from the workflow history: POST → started, and per activity queue wait, run time and the
    workflow-task gap before it was scheduled (first occurrence of each activity type)."""
    workflow_started, spans = await _activity_spans(env, workflow_id)
    phases: dict[str, float] = {"POST → workflow started": workflow_started - t0}
    previous_close = workflow_started
    seen: set[str] = set()
    for name, sched, start, close in spans:
        label = name
        if name == "update_task_state":
            label = "update_task_state (COMPLETED)"
        if label in seen:
            continue
        seen.add(label)
        phases[f"{label}: gap before"] = sched - previous_close
        phases[f"{label}: queue"] = start - sched
        phases[f"{label}: run"] = close - start
        previous_close = close
    return phases


#: The parts of a pipeline stage after the first, as its workflow's history shows them.
STAGE_PARTS = ("workflow task", "activity dispatch", "activity")


async def stage_phases(env: BenchEnv, workflow_id: str, activity_name: str) -> dict[str, float]:
    """Mean of each part over the stages after the first: the workflow task between the previous stage's end and
    this one's scheduling, the dispatch to a worker (scheduled → started) and the activity itself (started →
    completed, as the server recorded it)."""
    _, spans = await _activity_spans(env, workflow_id)
    stages = [span for span in spans if span[0] == activity_name]
    parts: dict[str, list[float]] = {part: [] for part in STAGE_PARTS}
    for previous, (_, sched, start, close) in zip(stages, stages[1:], strict=False):
        parts["workflow task"].append(sched - previous[3])
        parts["activity dispatch"].append(start - sched)
        parts["activity"].append(close - start)
    return {part: sum(values) / len(values) for part, values in parts.items() if values}
