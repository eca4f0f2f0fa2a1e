"""Fixtures for end-to-end tests: the scripted model server and real Wegent stacks (API + worker)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from activities.executors.base import executor_name
from tests.conftest import STATE_DIR
from tests.support.model_server import ModelServer
from tests.support.stack import Stack
from wegent.temporal.client import workflow_id_for

# Inside a container the host is host.docker.internal; a local executor reaches the host on loopback.
DOCKER_HOST_ALIAS = "host.docker.internal"


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer(host="0.0.0.0").start()
    yield server
    server.stop()


@pytest.fixture
def model(model_server: ModelServer) -> ModelServer:
    model_server.reset()
    model_server.api_key = None
    return model_server


def _stack(backend: str, **env: str) -> Stack:
    log_dir = STATE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return Stack(
        {
            # The production shape: separate API and worker processes sharing live events through Redis.
            # A test of the no-bus case passes WEGENT_REDIS_URL="".
            "WEGENT_REDIS_URL": "redis://127.0.0.1:6379/0",
            "WEGENT_EXECUTOR_BACKEND": backend,
            "WEGENT_EXECUTOR_IDLE_SECONDS": "0",
            "WEGENT_TASK_IDLE_SECONDS": "0",
            **env,
        },
        log_dir,
        name=backend,
    ).start()


@pytest.fixture(scope="session")
def docker_stack() -> Iterator[Stack]:
    stack = _stack("docker")
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Stack]:
    stack = _stack("local")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def stack_factory_module() -> Iterator:
    made: list[Stack] = []

    def make(backend: str = "local", **env: str) -> Stack:
        stack = _stack(backend, **env)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()


@pytest.fixture
def stack_factory() -> Iterator:
    made: list[Stack] = []

    def make(backend: str = "local", **env: str) -> Stack:
        stack = _stack(backend, **env)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()


def containers_for_task(task_id: int) -> list[str]:
    """The task's sandboxes in this run's deployment (task ids restart with every test database).

    A cold sandbox carries the task in its labels; a warm one adopted from the pool keeps the pool's labels
    (Docker cannot change them) and is known by the task's executor name instead: both are looked up.
    """
    scope = os.environ["WEGENT_TEMPORAL_NAMESPACE"]
    # A task has a sandbox per Shell policy of its members (slots "", "2", ...; workflows/sandboxes.py).
    names = [executor_name(task_id, workflow_id_for(task_id), scope, slot) for slot in ("", "2", "3")]
    found: list[str] = []
    for filters in (
        ["--filter", "label=wegent.role=executor"]
        + ["--filter", f"label=wegent.task={task_id}", "--filter", f"label=wegent.scope={scope}"],
        *(["--filter", f"name=^/{name}$"] for name in names),
    ):
        out = subprocess.run(["docker", "ps", "-a", "-q", *filters], capture_output=True, text=True, check=True)
        found += [cid for cid in out.stdout.split() if cid not in found]
    return found
