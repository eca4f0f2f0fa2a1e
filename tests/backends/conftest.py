"""Fixtures for the executor backend tests: the real Docker engine, the real executor image, free ports.

Nothing here skips: a missing engine or image is a failure with the command that provides it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from activities.executors.base import ExecutorSpec
from activities.executors.docker_backend import DockerBackend
from activities.executors.local_backend import LocalBackend

EXECUTOR_IMAGE = os.environ.get("WEGENT_EXECUTOR_IMAGE", "wegent-executor:latest")
TOKEN = "backend-test-token"
# Every workflow id this run makes starts with this, so cleanup never touches anything else.
RUN_PREFIX = f"wf-backend-test-{uuid.uuid4().hex[:8]}-"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        pytest.fail(f"the Docker engine does not answer ({exc}); run scripts/ensure_docker.sh", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def executor_image(docker_client: docker.DockerClient) -> str:
    try:
        docker_client.images.get(EXECUTOR_IMAGE)
    except ImageNotFound:
        pytest.fail(
            f"executor image {EXECUTOR_IMAGE} is missing; build it with scripts/build_executor_image.sh "
            "(or `make executor-image`)",
            pytrace=False,
        )
    return EXECUTOR_IMAGE


@pytest.fixture
async def docker_backend(docker_client: docker.DockerClient, executor_image: str) -> AsyncIterator[DockerBackend]:
    backend = DockerBackend(docker_client)
    yield backend
    # Whatever a test left behind (its executors carry this run's workflow ids) goes.
    for info in await backend.list_managed():
        if info.workflow_id and info.workflow_id.startswith(RUN_PREFIX):
            await backend.stop(info.executor_id)


@pytest.fixture
async def local_backend(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "executors", stop_grace_s=3.0)
    yield backend
    for info in await backend.list_managed():
        await backend.stop(info.executor_id)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_spec(executor_image: str) -> Callable[..., ExecutorSpec]:
    counter = iter(range(1, 1_000_000))

    def make(**fields: object) -> ExecutorSpec:
        n = next(counter)
        values: dict[str, object] = {
            "task_id": 900_000 + n,
            "workflow_id": f"{RUN_PREFIX}{n}-{uuid.uuid4().hex[:6]}",
            "port": free_port(),
            "token": TOKEN,
            "image": executor_image,
        }
        values.update(fields)
        return ExecutorSpec.model_validate(values)

    return make


@pytest.fixture
def make_local_spec() -> Callable[..., ExecutorSpec]:
    """Specs for the local backend, which needs no image (so no Docker either)."""
    counter = iter(range(1, 1_000_000))

    def make(**fields: object) -> ExecutorSpec:
        n = next(counter)
        values: dict[str, object] = {
            "task_id": 800_000 + n,
            "workflow_id": f"{RUN_PREFIX}local-{n}-{uuid.uuid4().hex[:6]}",
            "port": free_port(),
            "token": TOKEN,
            "image": "unused-by-local",
        }
        values.update(fields)
        return ExecutorSpec.model_validate(values)

    return make
