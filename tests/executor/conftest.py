"""Fixtures: one fake model provider and one in-process executor per session, a fresh client per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from executor.app import create_app
from executor.client import ExecutorClient
from tests.support.model_server import ModelServer, ServerThread
from wegent.events import RunEvent
from wegent.executor_api import ModelConfig, RunRequest

EXECUTOR_TOKEN = "executor-test-token"
MODEL_KEY = "sk-test-model-key"


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer(host="127.0.0.1", api_key=MODEL_KEY).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_model_script(model_server: ModelServer) -> None:
    model_server.reset()


@pytest.fixture(scope="session")
def executor_url() -> Iterator[str]:
    # A separate thread and event loop, like a real executor process: tests cannot lean on shared loop state.
    server = ServerThread(create_app(EXECUTOR_TOKEN), "127.0.0.1")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
async def executor_client(executor_url: str) -> AsyncIterator[ExecutorClient]:
    async with ExecutorClient(executor_url, EXECUTOR_TOKEN, retries=1, retry_backoff=0.05) as client:
        yield client


def run_request(model_server: ModelServer, prompt: str, provider: str = "openai", **fields: Any) -> RunRequest:
    base_url = model_server.openai_base_url if provider == "openai" else model_server.url
    model = ModelConfig(provider=provider, base_url=base_url, model="fake-model", api_key=MODEL_KEY)
    for key in ("api_key", "base_url"):
        if key in fields:
            setattr(model, key, fields.pop(key))
    return RunRequest(run_id=f"run-{uuid.uuid4().hex[:12]}", model=model, prompt=prompt, **fields)


async def collect(client: ExecutorClient, run_id: str, after: int = 0) -> list[RunEvent]:
    return [event async for event in client.stream_events(run_id, after=after)]
