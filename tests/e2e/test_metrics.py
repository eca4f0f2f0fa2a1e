"""Prometheus metrics of the API (`/metrics`) and of a worker (its own port), scraped while a task runs."""

from __future__ import annotations

import time
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.teams import team_yaml
from tests.support.chat_client import ChatClient
from tests.support.stack import free_port


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint, keyed by (name, sorted labels), parsed by prometheus_client itself."""
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


async def test_api_and_worker_metrics_while_a_task_runs(stack_factory, model):
    port = free_port()
    stack = stack_factory("local", MAX_CONCURRENT_TASKS="3", WEGENT_WORKER_METRICS_PORT=str(port))
    api, worker = f"{stack.url}/metrics", f"http://127.0.0.1:{port}/metrics"
    host = stack.env["WEGENT_EXECUTOR_HOST"]
    prefix = "m" + uuid.uuid4().hex[:8]
    stack.apply(team_yaml(prefix, model.openai_base_url, [{"bot": "meter"}], collaboration="solo"))
    model.script([{"match": "hold", "text": "first words then a stall", "stall": True}])

    client = await ChatClient(stack.url, stack.headers["Authorization"].split()[1]).connect()
    try:
        held = stack.create_task(f"{prefix}-team", "hold on")
        wait_until(lambda: model.requests() and stack.task(held["id"])["state"] == "RUNNING", "the step to run")
        wait_until(lambda: value(scrape(worker), "wegent_sandboxes_live", host=host) >= 1, "a live sandbox")

        during = scrape(api)
        assert value(during, "wegent_tasks", state="RUNNING") >= 1
        assert value(during, "wegent_socketio_connections") >= 1
        assert total(during, "wegent_http_request_seconds_count", route="/api/v1/tasks/{task_id}", method="GET") >= 1
        assert total(during, "wegent_http_request_seconds_count", route="/api/v1/tasks", method="POST") >= 1
        assert "wegent_tasks_queued" in {name for name, _ in during}

        on_worker = scrape(worker)
        assert value(on_worker, "wegent_agent_slots_in_use", host=host) == 1
        assert value(on_worker, "wegent_agent_slots_capacity", host=host) == 3
        assert value(on_worker, "wegent_first_token_seconds_count", shell="Chat") >= 1
        assert value(on_worker, "wegent_task_runs_started_total") >= 1

        assert stack.request("POST", f"/api/v1/tasks/{held['id']}/cancel").status_code == 202
        stack.wait_state(held["id"], {"CANCELLED"})
        # A cancelled step's words were paid for: they count in the tokens, not only completed steps' do.
        wait_until(
            lambda: value(scrape(worker), "wegent_model_tokens_total", model="scripted", direction="output") > 0,
            "the cancelled step's tokens in the metrics",
        )
        quick = stack.create_task(f"{prefix}-team", "a quick one")
        stack.wait_state(quick["id"], {"COMPLETED"})
    finally:
        await client.close()

    after = scrape(worker)
    assert value(after, "wegent_agent_slots_in_use", host=host) == 0
    assert value(after, "wegent_tasks_finished_total", state="CANCELLED") >= 1
    assert value(after, "wegent_tasks_finished_total", state="COMPLETED") >= 1
    assert value(after, "wegent_step_seconds_count", shell="Chat", outcome="cancelled") >= 1
    assert value(after, "wegent_step_seconds_count", shell="Chat", outcome="completed") >= 1
    assert value(after, "wegent_model_tokens_total", model="scripted", direction="output") > 0
    assert value(scrape(api), "wegent_tasks", state="COMPLETED") >= 1
