"""The host-side contract for executor backends: what to start, what comes back, and how to manage it.

A backend starts one executor (the ``python -m executor`` HTTP server) per task workflow on this host and
reports on the ones it started, so activities can start/stop them and a reaper can find leftovers.
Implementations: :mod:`activities.executors.docker_backend` (a hardened container per task) and
:mod:`activities.executors.local_backend` (a subprocess in its own process group; no isolation).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from abc import ABC, abstractmethod
from typing import Annotated, ClassVar, Literal

import httpx
from pydantic import AfterValidator, BaseModel, Field

from wegent.http import tls_context
from wegent.limits import SandboxLimits

BackendName = Literal["docker", "local"]

#: Port the executor listens on inside a container (the host side is ``ExecutorSpec.port``).
CONTAINER_PORT = 8080

_MEMORY_RE = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")


def _checked(limits: SandboxLimits) -> SandboxLimits:
    if limits.cpu is not None and limits.cpu <= 0:
        raise ValueError(f"cpu must be above 0, not {limits.cpu}")
    if limits.pids is not None and limits.pids <= 0:
        raise ValueError(f"pids must be above 0, not {limits.pids}")
    if limits.memory is not None and not _MEMORY_RE.match(limits.memory):
        raise ValueError(f"memory must look like 512m, 2g or a byte count, not {limits.memory!r}")
    return limits


CheckedLimits = Annotated[SandboxLimits, AfterValidator(_checked)]


class ExecutorError(RuntimeError):
    """Base class of the errors a backend raises."""


class ExecutorImageMissing(ExecutorError):
    """The executor image is not on this host. The message starts with Docker's own ``No such image``."""


class ExecutorStartError(ExecutorError):
    """The executor could not be created or started (port taken, bad limits, engine error...)."""


class ExecutorUnhealthy(ExecutorError):
    """The executor exited, or did not answer ``GET /health`` in time."""


class ExecutorSpec(BaseModel):
    """What to start for one task workflow."""

    task_id: int
    workflow_id: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535, description="host port on 127.0.0.1 the executor is reached on")
    token: str = Field(min_length=1, description="EXECUTOR_TOKEN; never logged")
    image: str = Field(min_length=1, description="container image (docker backend only)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment for the executor")
    limits: CheckedLimits = Field(default_factory=SandboxLimits, description="cpu, memory, pids, network")
    sandbox: str = Field(default="", max_length=8, description="the slot among the task's sandboxes")
    workdir_volume: str | None = Field(
        default=None,
        description="docker: a named volume (or an absolute host path) mounted at /workspace; "
        "local: the working directory (absolute path)",
    )

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"ExecutorSpec(task_id={self.task_id}, workflow_id={self.workflow_id!r}, port={self.port})"

    __str__ = __repr__


class ExecutorHandle(BaseModel):
    """How to reach a started executor: ``http://{host}:{port}``."""

    backend: BackendName
    executor_id: str
    host: str
    port: int


class ExecutorInfo(BaseModel):
    """The state of one executor this backend started."""

    executor_id: str
    running: bool
    exit_code: int | None = None  # None while running, or when the backend cannot know it
    oom_killed: bool = False
    task_id: int | None = None
    workflow_id: str | None = None
    port: int | None = None
    status: str = ""  # backend's own word: docker's State.Status, or running/exited for local
    warm_owner: str | None = None  # a warm-pool sandbox bound to no task yet: the pool (worker) that keeps it


class WarmSpec(BaseModel):
    """A sandbox started ahead of any task (warm pool): the default policy, no task token, a one-time pool key."""

    warm_id: str = Field(min_length=1, description="its executor id while it waits")
    owner: str = Field(min_length=1, description="the pool that keeps it (see activities.executors.pool)")
    port: int = Field(ge=1, le=65535)
    pool_key: str = Field(min_length=16, description="presented once, to bind the task's token; never logged")
    image: str = Field(min_length=1)
    limits: SandboxLimits = Field(default_factory=SandboxLimits)

    def __repr__(self) -> str:
        return f"WarmSpec(warm_id={self.warm_id!r}, port={self.port})"

    __str__ = __repr__


def executor_digest(workflow_id: str, scope: str = "", sandbox: str = "") -> str:
    """The part of an executor's name that identifies its workflow and sandbox slot."""
    owner = f"{scope}/{workflow_id}" + (f"#{sandbox}" if sandbox else "")
    return hashlib.sha256(owner.encode()).hexdigest()[:10]


def executor_name(task_id: int, workflow_id: str, scope: str = "", sandbox: str = "") -> str:
    """Deterministic per workflow and sandbox slot, so a retried start finds what an earlier attempt started.
    The scope (the Temporal namespace) keeps deployments sharing one engine apart: `task-1` exists in each of
    them. A task whose members run under different Shell policies has one sandbox per policy: the slot ("" for
    the first) tells them apart."""
    return f"wegent-task-{task_id}-{executor_digest(workflow_id, scope, sandbox)}"


class ExecutorBackend(ABC):
    """Starts and manages executors on this host. Every method is safe to retry."""

    name: ClassVar[BackendName]
    scope: str = ""  # the Temporal namespace this backend's executors belong to (see executor_name)
    # This host's model gateway, once it runs: sandboxes cut off from the network still reach it (Docker).
    gateway_port: int | None = None

    @abstractmethod
    async def start(self, spec: ExecutorSpec) -> ExecutorHandle:
        """Start an executor for ``spec.workflow_id``; if a live one already exists for it, return that."""

    @abstractmethod
    async def stop(self, executor_id: str) -> None:
        """Stop and remove the executor; a no-op (never an error) when it is already gone."""

    @abstractmethod
    async def inspect(self, executor_id: str) -> ExecutorInfo | None:
        """The executor's state, or None when this backend knows no such executor."""

    @abstractmethod
    async def list_managed(self) -> list[ExecutorInfo]:
        """Every executor this backend started on this host (running or not), for a reaper."""

    async def logs(self, executor_id: str, tail: int = 50) -> str:
        """The last lines of the executor's output, for diagnostics ('' when unavailable)."""
        return ""

    async def prepare(self) -> None:  # noqa: B027  (optional hook: most backends need nothing)
        """Get ready to start executors quickly (called once when a worker starts); optional."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release what :meth:`prepare` holds; optional."""

    async def release_idle(self) -> list[str]:
        """On a graceful worker stop: stop the executors that run nothing (kept warm for a follow-up).

        Returns their ids. Those with a run in progress stay, so the step re-attaches after a restart; a
        follow-up to a released one gets a fresh sandbox. Containers outlive their worker by design (their
        workflow stops them), so the default releases nothing; process-backed executors would be orphaned.
        """
        return []

    # ---- warm pool (activities.executors.pool); a backend without these never keeps a pool ----------------

    supports_warm: ClassVar[bool] = False

    async def start_warm(self, spec: WarmSpec) -> ExecutorHandle:
        """Start a sandbox that waits for a task (``EXECUTOR_POOL_KEY``, no task token, network on)."""
        raise NotImplementedError

    async def adopt_warm(
        self, warm_id: str, port: int, task_id: int, workflow_id: str, sandbox: str = ""
    ) -> ExecutorHandle:
        """Make a bound warm sandbox (started on ``port``) the workflow's own: from now on it is found, listed and
        reaped as the executor of ``workflow_id`` (its id becomes ``executor_name(task_id, workflow_id, scope,
        sandbox)``)."""
        raise NotImplementedError

    async def list_warm(self) -> list[ExecutorInfo]:
        """The warm sandboxes bound to no task (not in :meth:`list_managed`), with their owners."""
        return []

    async def wait_healthy(self, handle: ExecutorHandle, timeout_s: float = 60.0) -> None:
        """Poll ``GET /health`` until it answers ``{"status": "ok"}``.

        Fails fast with :class:`ExecutorUnhealthy` when the executor exits meanwhile, and after
        ``timeout_s`` otherwise; both messages carry the tail of the executor's output.
        """
        url = f"http://{handle.host}:{handle.port}/health"
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        delay = 0.1
        # trust_env=False: a proxy from the environment must never sit between us and 127.0.0.1.
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0), trust_env=False, verify=tls_context()) as client:
            while True:
                try:
                    response = await client.get(url)
                    if response.status_code == 200 and response.json().get("status") == "ok":
                        return
                    last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                info = await self.inspect(handle.executor_id)
                if info is None or not info.running:
                    detail = "is gone" if info is None else _exit_detail(info)
                    raise ExecutorUnhealthy(
                        f"executor {handle.executor_id} {detail} before becoming healthy"
                        f"{await self._logs_suffix(handle.executor_id)}"
                    )
                if time.monotonic() >= deadline:
                    raise ExecutorUnhealthy(
                        f"executor {handle.executor_id} not healthy at {url} after {timeout_s:.0f}s "
                        f"({last_error}){await self._logs_suffix(handle.executor_id)}"
                    )
                # Poll briskly while a start is typical (a second or two), then back off.
                started = timeout_s - (deadline - time.monotonic())
                await asyncio.sleep(0.03 if started < 3.0 else delay)
                if started >= 3.0:
                    delay = min(delay * 1.5, 1.0)

    async def _logs_suffix(self, executor_id: str) -> str:
        try:
            text = (await self.logs(executor_id, tail=20)).strip()
        except Exception:  # diagnostics only; never mask the real error
            return ""
        return f"; last output:\n{text}" if text else ""


def _exit_detail(info: ExecutorInfo) -> str:
    detail = f"exited (code {info.exit_code})" if info.exit_code is not None else "exited"
    return detail + (", OOM-killed" if info.oom_killed else "")
