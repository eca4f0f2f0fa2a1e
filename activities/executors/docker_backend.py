"""Executors as hardened Docker containers, one per task workflow, reached on 127.0.0.1:<spec.port>.

Every container: non-root (uid 10001), all capabilities dropped, ``no-new-privileges``, an init process
(``--init``) to reap the agent's subprocesses, optional CPU/memory (swap off)/pids limits, bounded json-file
logs, labels ``wegent.managed=true``, ``wegent.task``, ``wegent.workflow``; port 8080 published on
127.0.0.1 only; never the Docker socket. Containers are not auto-removed: ``stop`` removes them, so
``inspect`` can still read the exit code and the OOM flag of one that died.

Networks:

- ``network=True``: the user-defined bridge ``wegent-executors`` with inter-container traffic off
  (``enable_icc=false``), so one task's sandbox cannot reach another's; ``host.docker.internal`` points
  at the host.
- ``network=False``: ``network_mode="none"`` cannot publish a port, and Docker does not publish ports of
  containers on an ``internal`` network either (the engine silently ignores the mapping). So the executor
  sits alone on an internal bridge of its own, ``<executor>-isolated`` (no route off the host, no DNS for
  outside names, no ``host.docker.internal``, and no other sandbox: offline sandboxes cannot reach each
  other), and a small relay container (same image, our own fixed TCP forwarding code, hardened the same
  way, read-only rootfs) joins both that network and ``wegent-executors`` to publish 127.0.0.1:<port> and
  forward it to the executor's port 8080. The relay carries ``wegent.role=relay``; both, and the network,
  go away with the executor (see ``docker_networks.py`` and ``docker_relay.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import Mount

from activities.executors.base import (
    CONTAINER_PORT,
    BackendName,
    ExecutorBackend,
    ExecutorHandle,
    ExecutorImageMissing,
    ExecutorInfo,
    ExecutorSpec,
    ExecutorStartError,
    executor_name,
)
from activities.executors.docker_containers import (
    EXECUTOR_USER,
    LABEL_MANAGED,
    LABEL_NETWORK,
    LABEL_PORT,
    LABEL_ROLE,
    LABEL_SCOPE,
    LABEL_TASK,
    LABEL_WARM_OWNER,
    LABEL_WORKFLOW,
    api_message,
    hardening,
    label_port,
    remove,
)
from activities.executors.docker_networks import create_isolated_network, remove_isolated_network
from activities.executors.docker_relay import ensure_relay, relays_of
from activities.executors.docker_warm import DockerWarmMixin

WORKSPACE = "/workspace"


class DockerBackend(DockerWarmMixin, ExecutorBackend):
    """Executors as containers on the local Docker engine (blocking SDK calls run in threads)."""

    name: ClassVar[BackendName] = "docker"

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        network_name: str = "wegent-executors",
        isolated_network_name: str = "wegent-isolated",
        stop_timeout_s: int = 5,
        publish_ip: str = "127.0.0.1",
        state_dir: Path | None = None,  # accepted for a uniform factory call; containers need no state
        api_timeout_s: int = 60,
        scope: str = "",
    ) -> None:
        self.client = client or docker.from_env(timeout=api_timeout_s)
        self.scope = scope
        self.network_name = network_name
        self.isolated_network_name = isolated_network_name
        self.stop_timeout_s = stop_timeout_s
        self.publish_ip = publish_ip
        self._network_lock = threading.Lock()
        self._locks_guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._networks_ready: set[str] = set()
        self.state_dir = state_dir  # where adopted warm containers' task bindings are kept (labels are fixed)

    # ------------------------------------------------------------------------------------------ start
    async def start(self, spec: ExecutorSpec) -> ExecutorHandle:
        return await asyncio.to_thread(self._start, spec)

    def _start(self, spec: ExecutorSpec) -> ExecutorHandle:
        name = executor_name(spec.task_id, spec.workflow_id, self.scope, spec.sandbox)
        with self._name_lock(name):
            return self._start_locked(name, spec)

    @contextlib.contextmanager
    def _name_lock(self, name: str) -> Iterator[None]:
        """Serialize starts for one workflow within this process (other processes: see _settle)."""
        with self._locks_guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            yield

    def _settle(self, container: Container, wait_s: float = 10.0) -> Container:
        """A container still in "created" may be another process's start in flight: give it a moment."""
        deadline = time.monotonic() + wait_s
        while container.status == "created" and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                container.reload()
            except NotFound:
                break
        return container

    def _start_locked(self, name: str, spec: ExecutorSpec) -> ExecutorHandle:
        existing = self._get(name)
        if existing is not None:
            existing = self._settle(existing)
        if existing is not None:
            if self._workflow_of(existing) != spec.workflow_id:
                raise ExecutorStartError(
                    f"container {name} belongs to workflow {self._workflow_of(existing)!r}, not {spec.workflow_id!r}"
                )
            if existing.status == "running":
                if existing.labels.get(LABEL_NETWORK) == "off":
                    self._ensure_relay(existing)
                return self._handle(name, label_port(existing, spec.port))
            # Dead (or half-made) leftover of an earlier attempt: replace it.
            self._remove_all(name)

        try:
            self.client.images.get(spec.image)
        except ImageNotFound as exc:
            raise ExecutorImageMissing(
                f"No such image: {spec.image} (build it with scripts/build_executor_image.sh)"
            ) from exc

        try:
            container = self._create_executor(name, spec)
        except APIError as exc:
            if exc.status_code == 409:  # a concurrent start for the same workflow won the race
                winner = self._get(name)
                if winner is not None:
                    return self._handle(name, label_port(winner, spec.port))
            raise ExecutorStartError(f"creating {name} failed: {api_message(exc)}") from exc

        try:
            container.start()
            if not spec.limits.network:
                container.reload()
                self._ensure_relay(container)
        except APIError as exc:
            self._remove_all(name)
            raise ExecutorStartError(f"starting {name} on port {spec.port} failed: {api_message(exc)}") from exc
        return self._handle(name, spec.port)

    def _handle(self, name: str, port: int) -> ExecutorHandle:
        return ExecutorHandle(backend="docker", executor_id=name, host=self.publish_ip, port=port)

    def _create_executor(self, name: str, spec: ExecutorSpec, warm_owner: str | None = None) -> Container:
        labels = {
            LABEL_MANAGED: "true",
            LABEL_ROLE: "executor",
            LABEL_TASK: str(spec.task_id),
            LABEL_WORKFLOW: spec.workflow_id,
            LABEL_PORT: str(spec.port),
            LABEL_NETWORK: "on" if spec.limits.network else "off",
            LABEL_SCOPE: self.scope,
        }
        env = {**spec.env, "EXECUTOR_TOKEN": spec.token, "EXECUTOR_PORT": str(CONTAINER_PORT)}
        if warm_owner is not None:  # no task yet: the token is bound later, with the pool key (spec.token)
            del labels[LABEL_TASK], labels[LABEL_WORKFLOW]
            labels[LABEL_WARM_OWNER] = warm_owner
            env = {"EXECUTOR_POOL_KEY": spec.token, "EXECUTOR_PORT": str(CONTAINER_PORT)}
        kwargs: dict[str, Any] = {
            "name": name,
            "labels": labels,
            "environment": env,
            "user": EXECUTOR_USER,
            "working_dir": WORKSPACE,
            "detach": True,
            "auto_remove": False,
            "init": True,
            **hardening(),
        }
        limits = spec.limits
        if limits.cpu is not None:
            kwargs["nano_cpus"] = int(limits.cpu * 1_000_000_000)
        if limits.memory is not None:
            kwargs["mem_limit"] = limits.memory
            kwargs["memswap_limit"] = limits.memory  # no swap: over the limit means OOM, visibly
        if limits.pids is not None:
            kwargs["pids_limit"] = limits.pids
        if spec.workdir_volume:
            source = spec.workdir_volume
            kind = "bind" if source.startswith("/") else "volume"
            kwargs["mounts"] = [Mount(target=WORKSPACE, source=source, type=kind, read_only=False)]
        if spec.limits.network:
            kwargs["network"] = self._ensure_network(self.network_name, internal=False)
            kwargs["ports"] = {f"{CONTAINER_PORT}/tcp": (self.publish_ip, spec.port)}
            kwargs["extra_hosts"] = {"host.docker.internal": "host-gateway"}
        else:
            kwargs["network"] = create_isolated_network(self.client, name)
        return self.client.containers.create(spec.image, **kwargs)

    def _ensure_relay(self, executor: Container) -> None:
        outer = self._ensure_network(self.network_name, internal=False)
        ensure_relay(self.client, executor, outer, self.publish_ip, self.gateway_port)

    # ----------------------------------------------------------------------------------- networks
    def _ensure_network(self, name: str, *, internal: bool) -> str:
        if name in self._networks_ready:
            return name
        with self._network_lock:
            if name in self._networks_ready:
                return name
            if not self.client.networks.list(names=[name]):
                options = {"com.docker.network.bridge.enable_icc": "false"} if not internal else {}
                try:
                    self.client.networks.create(
                        name,
                        driver="bridge",
                        internal=internal,
                        options=options,
                        labels={LABEL_MANAGED: "true"},
                        check_duplicate=True,
                    )
                except APIError as exc:
                    if exc.status_code != 409:  # 409: another worker created it meanwhile
                        raise
            self._networks_ready.add(name)
        return name

    # ------------------------------------------------------------------------------- stop / inspect
    async def stop(self, executor_id: str) -> None:
        await asyncio.to_thread(self._remove_all, executor_id, self.stop_timeout_s)

    def _remove_all(self, executor_id: str, timeout_s: int = 0) -> None:
        """Remove the executor and its relay (if any); nothing is an error when already gone."""
        container = self._get(executor_id)
        name = container.name if container is not None else executor_id
        if container is not None:
            if timeout_s > 0 and container.status == "running":
                try:
                    container.stop(timeout=timeout_s)  # SIGTERM, then SIGKILL after the grace period
                except (NotFound, APIError):
                    pass
            remove(container)
        for relay in relays_of(self.client, name):
            remove(relay)
        remove_isolated_network(self.client, name)
        self._forget_binding(name)

    async def inspect(self, executor_id: str) -> ExecutorInfo | None:
        container = await asyncio.to_thread(self._get, executor_id)
        return self._info(container) if container is not None else None

    async def list_managed(self) -> list[ExecutorInfo]:
        def run() -> list[ExecutorInfo]:
            containers = self.client.containers.list(
                all=True,
                filters={"label": [f"{LABEL_MANAGED}=true", f"{LABEL_ROLE}=executor", f"{LABEL_SCOPE}={self.scope}"]},
            )
            infos = [self._info(c) for c in containers]
            return [info for info in infos if info.warm_owner is None]  # waiting warm ones: list_warm

        return await asyncio.to_thread(run)

    async def logs(self, executor_id: str, tail: int = 50) -> str:
        def run() -> str:
            container = self._get(executor_id)
            if container is None:
                return ""
            raw = container.logs(tail=tail)
            return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)

        return await asyncio.to_thread(run)

    def _get(self, executor_id: str) -> Container | None:
        try:
            return self.client.containers.get(executor_id)
        except NotFound:
            return None
