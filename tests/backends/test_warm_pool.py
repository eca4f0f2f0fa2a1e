"""The warm pool, on the real backends and database: what a task gets from it is its own, and only its own.

A pooled sandbox is started before any task (no task token), bound to one task at assignment (its token; the
default limits; its own fresh workspace; network on), listed and removed as that task's executor, never handed
to a second task; the pool refills, is drained when its worker stops, and the reaper removes what a dead pool
left. Both backends: Docker containers and local zygote forks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from activities.context import WorkerContext
from activities.executor_activities import ExecutorActivities
from activities.executors.base import ExecutorBackend, ExecutorHandle, ExecutorStartError, executor_name
from activities.executors.docker_backend import DockerBackend
from activities.executors.local_backend import LocalBackend
from activities.executors.pool import WarmPool, lease_owner
from activities.ports import leases_on, release_ports
from activities.relay import NullRelay
from activities.tokens import executor_token
from core.db.models import PortLease
from core.db.session import get_sessionmaker
from wegent.config import Settings
from wegent.crypto import get_keyring
from wegent.limits import SandboxLimits
from wegent.sandbox import limits_for
from workflows.models import StartExecutorInput

HOST = f"pool-test-{uuid.uuid4().hex[:6]}"


@pytest.fixture(params=["local", "docker"])
async def backend(request: pytest.FixtureRequest, tmp_path: Any, client: Any) -> AsyncIterator[ExecutorBackend]:
    # `client`: the API's lifespan has migrated the run's database (port leases live there).
    if request.param == "docker":
        request.getfixturevalue("executor_image")
        made: ExecutorBackend = DockerBackend(state_dir=tmp_path / "executors", scope=f"pool-{uuid.uuid4().hex[:6]}")
    else:
        made = LocalBackend(tmp_path / "executors", stop_grace_s=3.0, scope=f"pool-{uuid.uuid4().hex[:6]}")
        await made.prepare()
    yield made
    for info in [*await made.list_managed(), *await made.list_warm()]:
        await made.stop(info.executor_id)
    made.close()


def settings(size: int) -> Settings:
    return Settings(WEGENT_EXECUTOR_POOL_SIZE=str(size))


async def filled(pool: WarmPool, count: int, timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(pool.ready) < count:
        assert asyncio.get_running_loop().time() < deadline, f"the pool has {len(pool.ready)} of {count} ready"
        await asyncio.sleep(0.1)


async def call(handle: ExecutorHandle, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        return await http.request(
            method, f"http://{handle.host}:{handle.port}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
        )


async def test_a_pooled_sandbox_is_one_tasks_own_and_goes_with_it(backend: ExecutorBackend) -> None:
    sessions = get_sessionmaker()
    pool = WarmPool(backend, sessions, HOST, settings(2), 2)
    pool.start()
    try:
        await filled(pool, 2)
        waiting = {w.warm_id: w for w in pool.ready}
        assert {i.executor_id for i in await backend.list_warm()} >= set(waiting)
        assert not [i for i in await backend.list_managed() if i.executor_id in waiting]  # no task's yet
        leases = dict(await asyncio.to_thread(leases_on, sessions, HOST))
        assert all(lease_owner(leases[w.port]) == pool.owner for w in waiting.values())
        # Ready means primed: a task's first token never waits for its sandbox's imports and TLS setup.
        for warm in waiting.values():
            async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
                health = (await http.get(f"http://127.0.0.1:{warm.port}/health")).json()
            assert health["primed"] is True and health["bound"] is False

        wf_a, wf_b = f"task-pool-a-{uuid.uuid4().hex[:6]}", f"task-pool-b-{uuid.uuid4().hex[:6]}"
        token_a, token_b = executor_token(wf_a), executor_token(wf_b)
        a = await pool.take(901, wf_a, token_a)
        b = await pool.take(902, wf_b, token_b)
        assert a is not None and b is not None
        assert a.executor_id != b.executor_id and a.port != b.port  # two tasks never share one

        # Bound with its task's token: the other task's token, no token and the old pool key open nothing.
        assert (await call(a, "GET", "/workspace", token_a)).status_code == 200
        assert (await call(a, "GET", "/workspace", token_b)).status_code == 401
        key_a = next(w.key for w in waiting.values() if w.port == a.port)
        assert (await call(a, "GET", "/workspace", key_a)).status_code == 401
        # ... and never bound again, whatever is presented.
        rebind = await call(a, "POST", "/bind", key_a, json={"token": token_b})
        assert rebind.status_code == 409
        assert (await call(a, "GET", "/workspace", token_b)).status_code == 401

        # Its own fresh workspace, nothing cloned yet (the task's repository is prepared after assignment).
        status_a = (await call(a, "GET", "/workspace", token_a)).json()
        status_b = (await call(b, "GET", "/workspace", token_b)).json()
        assert status_a["cloned"] is False and status_b["cloned"] is False
        if isinstance(backend, LocalBackend):  # containers each have their own /workspace
            assert status_a["path"] != status_b["path"]

        # The task's executor now: listed with its workflow, its port lease under the workflow's name.
        infos = {i.executor_id: i for i in await backend.list_managed()}
        assert infos[a.executor_id].workflow_id == wf_a and infos[a.executor_id].task_id == 901
        assert infos[a.executor_id].running and infos[a.executor_id].warm_owner is None
        leases = dict(await asyncio.to_thread(leases_on, sessions, HOST))
        assert leases[a.port] == wf_a and leases[b.port] == wf_b

        if isinstance(backend, DockerBackend):  # the operator's default limits, enforced by the engine
            limits = limits_for(settings(2), SandboxLimits())
            host_config = backend.client.containers.get(a.executor_id).attrs["HostConfig"]
            assert host_config["NanoCpus"] == int(limits.cpu * 1e9)
            assert host_config["PidsLimit"] == limits.pids
            assert host_config["Memory"] == host_config["MemorySwap"] > 0

        # The pool refills in the background with new sandboxes, never the ones handed out.
        await filled(pool, 2)
        assert not {w.warm_id for w in pool.ready} & set(waiting)

        # Removed with its task, like any executor.
        await backend.stop(a.executor_id)
        await asyncio.to_thread(release_ports, sessions, HOST, wf_a)
        assert await backend.inspect(a.executor_id) is None
        await backend.stop(b.executor_id)
        await asyncio.to_thread(release_ports, sessions, HOST, wf_b)
    finally:
        drained = await pool.drain()
    # Drained: nothing of the pool is left, sandboxes or leases.
    assert drained == 2
    assert await backend.list_warm() == []
    assert await asyncio.to_thread(leases_on, sessions, HOST) == []


async def test_a_drain_while_a_sandbox_starts_leaves_none_behind(
    backend: ExecutorBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker stops while its pool is starting a sandbox. The backend starts it in a thread, which the drain's
    cancellation does not stop: the drain waits for that start and removes what it made, lease and all, so no
    sandbox outlives its worker."""
    sessions = get_sessionmaker()
    pool = WarmPool(backend, sessions, HOST, settings(1), 1)
    begun: list[asyncio.Future[ExecutorHandle]] = []
    entered = asyncio.Event()
    real_start = backend.start_warm

    async def start_in_a_thread(spec: Any) -> ExecutorHandle:
        async def run() -> ExecutorHandle:
            await asyncio.sleep(0.3)  # the thread has begun and not made the sandbox yet when the drain comes
            return await real_start(spec)

        begun.append(asyncio.ensure_future(run()))
        entered.set()
        return await asyncio.shield(begun[-1])  # like a thread: cancelling the caller does not stop it

    monkeypatch.setattr(backend, "start_warm", start_in_a_thread)
    pool.start()
    await asyncio.wait_for(entered.wait(), 30)
    assert await pool.drain() == 0
    await asyncio.gather(*begun, return_exceptions=True)  # every start that began has ended
    assert await backend.list_warm() == []
    assert await asyncio.to_thread(leases_on, sessions, HOST) == []


async def test_a_policy_the_pool_cannot_satisfy_starts_cold(backend: ExecutorBackend) -> None:
    pool = WarmPool(backend, get_sessionmaker(), HOST, settings(1), 1)
    default = pool.default_limits
    assert pool.fits(None, default)
    assert not pool.fits(None, replace(default, network=False))  # no network: a sandbox of its own
    assert not pool.fits("other-image:1", default)
    assert not pool.fits(None, limits_for(settings(1), SandboxLimits(cpu=0.5)))
    assert not WarmPool(backend, get_sessionmaker(), HOST, settings(0), 0).fits(None, default)


async def test_the_reaper_removes_what_a_dead_pool_left(backend: ExecutorBackend) -> None:
    from activities.reaper import reap_host

    sessions = get_sessionmaker()
    pool = WarmPool(backend, sessions, HOST, settings(1), 1)
    pool.owner = "1-0"  # a worker that is gone (pid 1 never started at tick 0)
    pool.start()
    try:
        await filled(pool, 1)
        orphan = pool.ready[0]
    finally:
        pool._filler.cancel()  # type: ignore[union-attr]  # its worker "died": nobody drains it

    class Ctx:
        pass

    ctx: Any = Ctx()
    ctx.backend, ctx.sessions, ctx.host = backend, sessions, HOST
    ctx.in_thread = lambda fn, *args: asyncio.to_thread(fn, *args)
    report = await reap_host(ctx, client=None)  # type: ignore[arg-type]  # no workflow to ask about
    assert report["executors_removed"] >= 1 and report["leases_released"] >= 1
    assert orphan.warm_id not in {i.executor_id for i in await backend.list_warm()}
    with sessions() as db:
        assert db.scalar(select(PortLease).where(PortLease.workflow_id == orphan.lease)) is None


async def test_taking_again_for_the_same_workflow_returns_its_sandbox_and_spares_the_pool(
    backend: ExecutorBackend,
) -> None:
    """A workflow task that took a warm sandbox and did not complete runs the take again: it gets the sandbox it
    took, and the other waiting sandboxes are neither adopted nor thrown away (nor their leases moved)."""
    sessions = get_sessionmaker()
    pool = WarmPool(backend, sessions, HOST, settings(2), 2)
    ctx = WorkerContext(
        settings=settings(2), sessions=sessions, keyring=get_keyring(), backend=backend, relay=NullRelay(), host=HOST
    )
    ctx.pool = pool
    activities = ExecutorActivities(ctx)
    pool.start()
    workflow_id = f"task-again-{uuid.uuid4().hex[:6]}"
    request = StartExecutorInput(task_id=903, workflow_id=workflow_id)
    try:
        await filled(pool, 2)
        first = await activities.take_warm_executor(request)
        assert first is not None
        waiting = {w.warm_id for w in pool.ready}
        again = await activities.take_warm_executor(request)
        assert again is not None and (again.executor_id, again.port) == (first.executor_id, first.port)
        assert waiting <= {w.warm_id for w in pool.ready} | {i.executor_id for i in await backend.list_warm()}
        leases = await asyncio.to_thread(leases_on, sessions, HOST)
        assert [port for port, owner in leases if owner == workflow_id] == [first.port]
        await backend.stop(first.executor_id)
        await asyncio.to_thread(release_ports, sessions, HOST, workflow_id)
    finally:
        await pool.drain()


async def test_a_warm_sandbox_that_died_while_waiting_is_thrown_away_and_the_task_gets_the_next(
    backend: ExecutorBackend,
) -> None:
    sessions = get_sessionmaker()
    pool = WarmPool(backend, sessions, HOST, settings(2), 2)
    pool.start()
    workflow_id = f"task-dead-warm-{uuid.uuid4().hex[:6]}"
    try:
        await filled(pool, 2)
        dead, alive = pool.ready[0], pool.ready[1]
        await backend.stop(dead.warm_id)  # gone behind the pool's back (killed, OOM, removed by hand)
        taken = await pool.take(904, workflow_id, executor_token(workflow_id))
        assert taken is not None and taken.port == alive.port
        assert [i.executor_id for i in await backend.list_managed() if i.workflow_id == workflow_id] == [
            taken.executor_id
        ]
        assert dead.warm_id not in {i.executor_id for i in await backend.list_warm()}
        await backend.stop(taken.executor_id)
        await asyncio.to_thread(release_ports, sessions, HOST, workflow_id)
    finally:
        await pool.drain()


async def test_adopting_a_warm_sandbox_that_is_gone_fails_and_leaves_no_executor(backend: ExecutorBackend) -> None:
    workflow_id = f"task-gone-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ExecutorStartError, match="wegent-warm-gone"):
        await backend.adopt_warm(f"wegent-warm-gone{uuid.uuid4().hex[:6]}", 1, 905, workflow_id)
    assert [i for i in await backend.list_managed() if i.workflow_id == workflow_id] == []
    if isinstance(backend, DockerBackend):  # no binding left that a later listing could take for an executor
        assert backend._binding(executor_name(905, workflow_id, backend.scope, "")) is None
