"""The API's Prometheus metrics and `GET /metrics`.

Per API process: HTTP latency by route template and live Socket.IO connections. Read from the database at
scrape time (the same in every process): tasks by state and the queue. In `wegent up` the worker's metrics
(`wegent/metrics.py`) share this process and appear here too.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from core.db.models import Task
from core.db.session import get_sessionmaker
from wegent.logging import get_logger
from workflows.models import TaskState

log = get_logger("api")

HTTP_SECONDS = Histogram(
    "wegent_http_request_seconds",
    "REST request duration, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
#: Prefixes routers are included under: a matched route knows only its own path, not where it was mounted.
ROUTER_PREFIXES = ("/api/v1", "/v1")


def route_template(scope: dict) -> str:  # type: ignore[type-arg]
    """`/api/v1/tasks/{task_id}` for `/api/v1/tasks/42`: a label with bounded values, never the raw path."""
    route = getattr(scope.get("route"), "path", None)
    if not route:
        return "unmatched"
    path = scope.get("path", "")
    for prefix in ROUTER_PREFIXES:
        if path.startswith(prefix + "/") and not route.startswith(prefix + "/"):
            return prefix + route
    return route


SOCKETIO_CONNECTIONS = Gauge("wegent_socketio_connections", "Socket.IO /chat connections open on this process")

STATES = (
    TaskState.PENDING,
    TaskState.RUNNING,
    TaskState.PENDING_CONFIRMATION,
    TaskState.CANCELLING,
    *sorted(TaskState.TERMINAL),
)


class TaskStateCollector(Collector):
    """Tasks by state, counted in the database when Prometheus scrapes (every API process agrees)."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # What registration reads instead of collect(): without it, importing this module counted the tasks,
        # a query at import time, before logging is set up and before the schema may exist.
        yield GaugeMetricFamily("wegent_tasks", "Tasks by state", labels=["state"])
        yield GaugeMetricFamily("wegent_tasks_queued", "Tasks waiting for an agent slot (PENDING)")

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with get_sessionmaker()() as db:
                counts = dict(db.execute(select(Task.state, func.count()).group_by(Task.state)).all())
        except Exception as exc:  # noqa: BLE001 - a scrape while the database is down reports the rest
            log.warning("metrics.tasks_unavailable", error=type(exc).__name__)
            return
        by_state = GaugeMetricFamily("wegent_tasks", "Tasks by state", labels=["state"])
        for state in sorted(set(STATES) | set(counts)):
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state
        yield GaugeMetricFamily(
            "wegent_tasks_queued", "Tasks waiting for an agent slot (PENDING)", value=counts.get(TaskState.PENDING, 0)
        )


def _register_once() -> None:
    if not getattr(REGISTRY, "_wegent_tasks", False):  # several apps per process in tests
        REGISTRY.register(TaskStateCollector())
        REGISTRY._wegent_tasks = True  # type: ignore[attr-defined]


_register_once()
router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
