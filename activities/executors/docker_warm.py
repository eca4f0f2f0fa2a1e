"""The Docker backend's warm sandboxes: containers started before any task, adopted by one task later.

A warm container is created and started like any executor (hardened, default limits, network on, its port
published) but carries ``wegent.warm-owner`` (the pool keeping it) instead of a task and a workflow, and holds a
one-time pool key instead of a task token. Docker labels cannot change, so adopting one for a task renames the
container to the task's executor id (:func:`executor_name`, which a retried start looks up) and records the
task it now serves in a small binding file under the backend's state folder; listing, inspecting and reaping
read that binding before the labels.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from activities.executors.base import (
    ExecutorHandle,
    ExecutorInfo,
    ExecutorSpec,
    ExecutorStartError,
    WarmSpec,
    executor_name,
)
from activities.executors.docker_containers import (
    LABEL_MANAGED,
    LABEL_SCOPE,
    LABEL_WARM_OWNER,
    api_message,
    container_info,
    remove,
)

if TYPE_CHECKING:
    from activities.executors.docker_backend import DockerBackend


class DockerWarmMixin:
    supports_warm = True

    def _bindings_dir(self: DockerBackend) -> Path:  # type: ignore[misc]
        if self.state_dir is None:
            raise ExecutorStartError("the docker backend keeps a warm pool only with a state folder")
        path = Path(self.state_dir) / "warm-bindings"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _binding(self: DockerBackend, name: str) -> dict[str, Any] | None:  # type: ignore[misc]
        if self.state_dir is None:
            return None
        try:
            return json.loads((Path(self.state_dir) / "warm-bindings" / f"{name}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _forget_binding(self: DockerBackend, name: str) -> None:  # type: ignore[misc]
        if self.state_dir is not None:
            (Path(self.state_dir) / "warm-bindings" / f"{name}.json").unlink(missing_ok=True)

    def _info(self: DockerBackend, container: Container) -> ExecutorInfo:  # type: ignore[misc]
        binding = self._binding(container.name) if LABEL_WARM_OWNER in container.labels else None
        return container_info(container, binding)

    def _workflow_of(self: DockerBackend, container: Container) -> str | None:  # type: ignore[misc]
        return self._info(container).workflow_id

    async def start_warm(self: DockerBackend, spec: WarmSpec) -> ExecutorHandle:  # type: ignore[misc]
        return await asyncio.to_thread(_start_warm, self, spec)

    async def adopt_warm(  # type: ignore[misc]
        self: DockerBackend, warm_id: str, port: int, task_id: int, workflow_id: str, sandbox: str = ""
    ) -> ExecutorHandle:
        return await asyncio.to_thread(_adopt, self, warm_id, port, task_id, workflow_id, sandbox)

    async def list_warm(self: DockerBackend) -> list[ExecutorInfo]:  # type: ignore[misc]
        def run() -> list[ExecutorInfo]:
            containers = self.client.containers.list(
                all=True, filters={"label": [f"{LABEL_MANAGED}=true", LABEL_WARM_OWNER, f"{LABEL_SCOPE}={self.scope}"]}
            )
            infos = [self._info(c) for c in containers]
            return [info for info in infos if info.warm_owner is not None]

        return await asyncio.to_thread(run)


def _start_warm(backend: DockerBackend, spec: WarmSpec) -> ExecutorHandle:
    backend._bindings_dir()  # refuse early without a state folder
    base = ExecutorSpec(
        task_id=0,
        workflow_id=spec.warm_id,
        port=spec.port,
        token=spec.pool_key,
        image=spec.image,
        limits=spec.limits,
    )
    try:
        container = backend._create_executor(spec.warm_id, base, warm_owner=spec.owner)
    except APIError as exc:
        raise ExecutorStartError(f"creating {spec.warm_id} failed: {api_message(exc)}") from exc
    try:
        container.start()
    except APIError as exc:
        remove(container)
        raise ExecutorStartError(f"starting {spec.warm_id} on port {spec.port} failed: {api_message(exc)}") from exc
    return backend._handle(spec.warm_id, spec.port)


def _adopt(
    backend: DockerBackend, warm_id: str, port: int, task_id: int, workflow_id: str, sandbox: str
) -> ExecutorHandle:
    new_name = executor_name(task_id, workflow_id, backend.scope, sandbox)
    # No inspect first: the pool knows the port it started the container with, and the rename below fails for a
    # container that is gone. One Docker API call on the way to a new task's first step, not two.
    if backend._binding(warm_id) is not None:
        raise ExecutorStartError(f"{warm_id} is not a waiting warm container")
    binding = {"task_id": task_id, "workflow_id": workflow_id, "port": port, "warm_id": warm_id}
    # Bound first under the new name, then renamed: whichever name a crash leaves, it is never taken for a
    # waiting warm container again (a binding under the new name only matters once the rename happened).
    path = backend._bindings_dir() / f"{new_name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(binding))
    os.replace(tmp, path)
    try:
        backend.client.api.rename(warm_id, new_name)
    except (APIError, NotFound) as exc:
        path.unlink(missing_ok=True)
        raise ExecutorStartError(f"adopting {warm_id} for {workflow_id} failed: {exc}") from exc
    return backend._handle(new_name, port)
