"""A warm pool per worker: sandboxes started ahead of tasks, so a task's first step does not wait for one.

Starting a sandbox is the largest cost on the way to a task's first token (a container about a second, a
forked process about a tenth). The pool keeps ``WEGENT_EXECUTOR_POOL_SIZE`` of them running and healthy on this
host, each on its own leased port (lease ``pool:<owner>:<id>``), with the default policy: the default image,
the operator's default limits, network on. None of them knows a task: each holds a one-time pool key and no
task token.

A task whose Shell asks for exactly that policy takes one at assignment: the port lease moves to the task's
workflow, the worker binds the task's token with the pool key (the executor accepts one binding, ever), and
the backend adopts the sandbox as the workflow's executor (same id, listing, stop and reaping as a cold one).
It is never handed to another task, and it is removed with its task like any executor. A Shell asking for
another image, other limits or no network starts cold. The pool refills in the background and is drained
when the worker stops; sandboxes of a pool whose worker died are removed by the reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from activities.executors.base import ExecutorBackend, ExecutorHandle, WarmSpec
from activities.ports import lease_key, lease_port, release_ports, transfer_lease
from wegent.config import Settings
from wegent.http import tls_context
from wegent.limits import SandboxLimits
from wegent.logging import get_logger
from wegent.sandbox import limits_for

log = get_logger("executors.pool")
# How long a new warm sandbox may take to prime itself before it is handed out anyway (see _primed).
PRIMED_WITHIN = 20.0
# Seconds a refill waits while another warm sandbox is still ready (see _fill_forever).
REFILL_SETTLE = 0.5
LEASE_PREFIX = "pool:"


def _start_time(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[19]


def this_owner() -> str:
    """This worker process, in a form that tells a recycled pid apart (pid and start time)."""
    return f"{os.getpid()}-{_start_time(os.getpid())}"


def owner_alive(owner: str) -> bool:
    """Whether the worker process that keeps a pool still runs on this machine."""
    pid, _, started = owner.partition("-")
    return pid.isdigit() and _start_time(int(pid)) == started


def lease_owner(workflow_id: str) -> str | None:
    """The pool owner of a port lease held by a waiting warm sandbox (None: a task's lease)."""
    if not workflow_id.startswith(LEASE_PREFIX):
        return None
    return workflow_id[len(LEASE_PREFIX) :].split(":", 1)[0]


@dataclass
class Warm:
    warm_id: str
    port: int
    key: str  # the pool key: kept in memory only, presented once at binding
    lease: str  # its port lease's name, `pool:<owner>:<id>`: the reaper knows whose it is


class WarmPool:
    def __init__(
        self, backend: ExecutorBackend, sessions: sessionmaker[Session], host: str, settings: Settings, size: int
    ) -> None:
        self.backend = backend
        self.sessions = sessions
        self.host = host
        self.settings = settings
        self.size = size if backend.supports_warm else 0
        self.owner = this_owner()
        self.ready: list[Warm] = []
        self._wanted = asyncio.Event()
        self._filler: asyncio.Task[None] | None = None
        self._draining = False
        self.default_limits: SandboxLimits = limits_for(settings, SandboxLimits())

    # ---- who gets one ------------------------------------------------------------------------------------

    def fits(self, image: str | None, limits: SandboxLimits) -> bool:
        """Only the policy the pool starts with: anything else would need a different sandbox."""
        wanted_image = image or self.settings.executor_image
        return self.size > 0 and wanted_image == self.settings.executor_image and limits == self.default_limits

    async def take(self, task_id: int, workflow_id: str, token: str, sandbox: str = "") -> ExecutorHandle | None:
        """Bind a waiting sandbox to this task and return it as the workflow's executor; None: start cold."""
        while self.ready and not self._draining:
            warm = self.ready.pop(0)
            self._wanted.set()  # refill in the background
            try:
                return await self._assign(warm, task_id, workflow_id, token, sandbox)
            except Exception as exc:  # noqa: BLE001 - a broken warm sandbox is discarded; the task goes on
                log.warning("pool.assign_failed", warm_id=warm.warm_id, workflow_id=workflow_id, error=str(exc))
                await self._discard(warm)
        return None

    async def _assign(self, warm: Warm, task_id: int, workflow_id: str, token: str, sandbox: str) -> ExecutorHandle:
        # The lease move and the binding are independent: done at once, both must succeed (on a failure the
        # sandbox is discarded; a moved lease is the workflow's, released with its executor as usual).
        moved, bound = await asyncio.gather(
            asyncio.to_thread(transfer_lease, self.sessions, self.host, warm.lease, lease_key(workflow_id, sandbox)),
            self._bind(warm, token),
        )
        if not moved:
            raise RuntimeError(f"the port lease of {warm.warm_id} is gone")
        if bound != 200:
            raise RuntimeError(f"binding answered HTTP {bound}")
        handle = await self.backend.adopt_warm(warm.warm_id, warm.port, task_id, workflow_id, sandbox)
        log.info("pool.assigned", warm_id=warm.warm_id, executor_id=handle.executor_id, workflow_id=workflow_id)
        return handle

    async def _bind(self, warm: Warm, token: str) -> int:
        url = f"http://127.0.0.1:{warm.port}/bind"
        async with httpx.AsyncClient(timeout=5.0, trust_env=False, verify=tls_context()) as client:
            response = await client.post(url, json={"token": token}, headers={"Authorization": f"Bearer {warm.key}"})
        return response.status_code

    # ---- keeping it full ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self.size > 0 and self._filler is None:
            self._filler = asyncio.create_task(self._fill_forever())

    async def _fill_forever(self) -> None:
        failures = 0
        while not self._draining:
            if len(self.ready) >= self.size:
                self._wanted.clear()
                await self._wanted.wait()
                continue
            if self.ready:
                # One still waits for the next task: the task that just took a sandbox gets the CPU for its first
                # token before a refill (a fork or a container start, then priming) competes with it.
                await asyncio.sleep(REFILL_SETTLE)
            try:
                self.ready.append(await self._start_one())
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. the image is missing: tasks start cold meanwhile
                failures += 1
                log.warning("pool.start_failed", error=str(exc), failures=failures)
                await asyncio.sleep(min(2.0**failures, 60.0))

    async def _start_one(self) -> Warm:
        warm_id = f"wegent-warm-{secrets.token_hex(5)}"
        lease = f"{LEASE_PREFIX}{self.owner}:{warm_id}"
        port = await asyncio.to_thread(
            lease_port,
            self.sessions,
            self.host,
            lease,
            self.settings.port_range_min,
            self.settings.port_range_max,
        )
        warm = Warm(warm_id=warm_id, port=port, key=secrets.token_urlsafe(24), lease=lease)
        spec = WarmSpec(
            warm_id=warm_id,
            owner=self.owner,
            port=port,
            pool_key=warm.key,
            image=self.settings.executor_image,
            limits=self.default_limits,
        )
        # The backend starts the sandbox in a thread, which a cancellation (a drain) does not stop: shielded, the
        # start is waited for on the way out, so the stop below finds what it made instead of racing it.
        starting = asyncio.ensure_future(self.backend.start_warm(spec))
        try:
            handle = await asyncio.shield(starting)
            await self.backend.wait_healthy(handle, 90.0)
            await _check_identity(handle, warm.key)
            await _primed(handle, PRIMED_WITHIN)
        except BaseException:
            with contextlib.suppress(BaseException):
                await asyncio.wait([starting])
            with contextlib.suppress(Exception):
                await self.backend.stop(warm_id)
            await asyncio.to_thread(release_ports, self.sessions, self.host, lease)
            raise
        log.info("pool.ready", warm_id=warm_id, port=port, ready=len(self.ready) + 1)
        return warm

    async def _discard(self, warm: Warm) -> None:
        with contextlib.suppress(Exception):
            await self.backend.stop(warm.warm_id)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(release_ports, self.sessions, self.host, warm.lease)

    async def drain(self) -> int:
        """On a graceful stop: no more refills, and every waiting sandbox is removed with its lease."""
        self._draining = True
        if self._filler is not None:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._filler
        waiting, self.ready = self.ready, []
        for warm in waiting:
            await self._discard(warm)
        if waiting:
            log.info("pool.drained", count=len(waiting))
        return len(waiting)


async def _primed(handle: ExecutorHandle, within: float) -> None:
    """Wait until the sandbox has primed itself (imports, TLS setup): handed out earlier, its task's first token
    would wait for that work, and share the CPU with it. Priming is an optimisation: after ``within`` it is handed
    out anyway; an executor that does not report it counts as primed."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5.0, trust_env=False, verify=tls_context()) as client:
        while time.monotonic() < deadline:
            health = (await client.get(f"http://{handle.host}:{handle.port}/health")).json()
            if health.get("primed", True):
                return
            await asyncio.sleep(0.05)


async def _check_identity(handle: ExecutorHandle, key: str) -> None:
    """The executor answering on the port must be the one just started (another deployment's executor on this
    machine may have taken the port first): it proves it holds our pool key without showing it."""
    from executor.auth import fingerprint

    async with httpx.AsyncClient(timeout=5.0, trust_env=False, verify=tls_context()) as client:
        health = (await client.get(f"http://{handle.host}:{handle.port}/health")).json()
    if health.get("pool") != fingerprint(key):
        raise RuntimeError(f"port {handle.port} is answered by another executor than {handle.executor_id}")
