"""Prometheus metrics that workers (and the embedded process) export, defined once.

Activities update them; `wegent worker` serves them on `WEGENT_WORKER_METRICS_PORT`, and `wegent up` together
with the API's own on `/metrics`. The API's metrics live in `api/metrics.py`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Seconds: from a step's start to its model's first text, and to its end.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

TASK_RUNS_STARTED = Counter(
    "wegent_task_runs_started_total", "Task turns whose workflow started running its plan (retries included)"
)
TASKS_FINISHED = Counter("wegent_tasks_finished_total", "Task turns that ended, by final state", ["state"])
AGENT_SLOTS_IN_USE = Gauge("wegent_agent_slots_in_use", "Agent steps running on this worker host", ["host"])
AGENT_SLOTS_CAPACITY = Gauge(
    "wegent_agent_slots_capacity", "Agent steps this worker host runs at once (MAX_CONCURRENT_TASKS)", ["host"]
)
SANDBOXES_LIVE = Gauge("wegent_sandboxes_live", "Executor sandboxes running on this worker host", ["host"])
STEP_SECONDS = Histogram(
    "wegent_step_seconds",
    "Duration of agent steps, by runtime and outcome",
    ["shell", "outcome"],
    buckets=LATENCY_BUCKETS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "wegent_first_token_seconds",
    "From a step's start to its model's first text, by runtime",
    ["shell"],
    buckets=LATENCY_BUCKETS,
)
MODEL_TOKENS = Counter("wegent_model_tokens_total", "Model tokens, by model and direction", ["model", "direction"])
MODEL_COST = Counter("wegent_model_cost_total", "Model cost from the Model's pricing, by model", ["model"])
