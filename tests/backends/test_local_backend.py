"""The local backend: the real ``python -m executor`` as a subprocess group, tracked across restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from activities.executors.base import ExecutorSpec, ExecutorStartError, ExecutorUnhealthy, executor_name
from activities.executors.local_backend import LocalBackend
from tests.backends.conftest import TOKEN

SpecFactory = Callable[..., ExecutorSpec]


def group_alive(pgid: int) -> bool:
    """True while a non-zombie process is in the group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def proc_environ(pid: int) -> dict[str, str]:
    items = Path(f"/proc/{pid}/environ").read_text().split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def proc_cwd(pid: int) -> Path:
    return Path(f"/proc/{pid}/cwd").resolve()


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) that listen on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.parametrize("zygote", [True, False], ids=["forked-from-zygote", "spawned"])
async def test_start_health_stop(tmp_path: Path, make_local_spec: SpecFactory, zygote: bool) -> None:
    local_backend = LocalBackend(tmp_path / "executors", stop_grace_s=3.0, zygote=zygote)
    try:
        await _start_health_stop(local_backend, make_local_spec, zygote)
    finally:
        for info in await local_backend.list_managed():
            await local_backend.stop(info.executor_id)
        local_backend.close()


async def _start_health_stop(local_backend: LocalBackend, make_local_spec: SpecFactory, zygote: bool) -> None:
    spec = make_local_spec(env={"WEGENT_EXTRA": "yes"})
    handle = await local_backend.start(spec)
    assert handle.backend == "local"
    assert handle.executor_id == executor_name(spec.task_id, spec.workflow_id)
    assert (handle.host, handle.port) == ("127.0.0.1", spec.port)
    await local_backend.wait_healthy(handle, 30)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{spec.port}", trust_env=False) as client:
        assert (await client.get("/health")).json()["status"] == "ok"
        assert (await client.get("/runs/nope")).status_code == 401
        authed = await client.get("/runs/nope", headers={"Authorization": f"Bearer {TOKEN}"})
        assert authed.status_code == 404

    assert listening_addresses(spec.port) == {"0100007F"}  # 127.0.0.1 only

    info = await local_backend.inspect(handle.executor_id)
    assert info is not None and info.running
    assert (info.task_id, info.workflow_id, info.port) == (spec.task_id, spec.workflow_id, spec.port)
    record = local_backend._read(handle.executor_id)
    assert record is not None
    pid = record["pid"]
    assert os.getpgid(pid) == pid  # its own process group (and session)
    assert os.getsid(pid) == pid

    # None of the worker's secrets in the environment the process was started with.
    environ = proc_environ(pid)
    assert "WEGENT_SECRET_KEY" in os.environ and "WEGENT_SECRET_KEY" not in environ
    assert "WEGENT_DATABASE_URL" not in environ
    if zygote:
        # Forked: /proc shows the zygote's start-up environment, which holds nothing of any task; the
        # executor's own (replaced after the fork) is checked in tests/executor/test_zygote.py.
        assert local_backend._children == {}
        assert "EXECUTOR_TOKEN" not in environ
    else:
        # The executor sees its settings and the spec's env.
        assert environ["EXECUTOR_TOKEN"] == TOKEN
        assert environ["EXECUTOR_PORT"] == str(spec.port)
        assert environ["EXECUTOR_HOST"] == "127.0.0.1"
        assert environ["WEGENT_EXTRA"] == "yes"

    await local_backend.stop(handle.executor_id)
    assert not group_alive(pid)
    assert await local_backend.inspect(handle.executor_id) is None
    assert await local_backend.list_managed() == []
    await local_backend.stop(handle.executor_id)  # twice: fine
    await local_backend.stop("wegent-task-0-neverexisted")
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(trust_env=False) as client:
            await client.get(f"http://127.0.0.1:{spec.port}/health")


async def test_start_is_idempotent(local_backend: LocalBackend, make_local_spec: SpecFactory) -> None:
    spec = make_local_spec()
    first = await local_backend.start(spec)
    assert await local_backend.start(spec) == first
    assert await local_backend.start(spec.model_copy(update={"port": spec.port + 1})) == first
    handles = await asyncio.gather(*(local_backend.start(spec) for _ in range(3)))
    assert all(h == first for h in handles)
    assert len(await local_backend.list_managed()) == 1
    await local_backend.wait_healthy(first, 30)


async def test_registry_survives_a_new_backend(tmp_path: Path, make_local_spec: SpecFactory) -> None:
    state = tmp_path / "registry"
    spec = make_local_spec()
    first = LocalBackend(state)
    handle = await first.start(spec)
    await first.wait_healthy(handle, 30)
    pid = first._read(handle.executor_id)["pid"]  # type: ignore[index]

    restarted = LocalBackend(state)  # a worker restart: no in-memory state, same state dir
    managed = await restarted.list_managed()
    assert [(i.executor_id, i.running, i.task_id, i.workflow_id) for i in managed] == [
        (handle.executor_id, True, spec.task_id, spec.workflow_id)
    ]
    assert await restarted.start(spec) == handle  # re-attaches instead of starting a second one
    await restarted.wait_healthy(handle, 10)
    await restarted.stop(handle.executor_id)
    # Not the restarted backend's child: the first backend object still holds it, reap it like init would.
    first._reap(handle.executor_id)
    assert not group_alive(pid)
    assert await restarted.list_managed() == []
    assert await first.list_managed() == []


async def test_dead_executor_is_reported_and_replaced(
    local_backend: LocalBackend, make_local_spec: SpecFactory
) -> None:
    spec = make_local_spec()
    handle = await local_backend.start(spec)
    await local_backend.wait_healthy(handle, 30)
    pid = local_backend._read(handle.executor_id)["pid"]  # type: ignore[index]
    os.killpg(pid, signal.SIGKILL)
    info = await local_backend.inspect(handle.executor_id)
    for _ in range(50):
        if info is not None and not info.running:
            break
        await asyncio.sleep(0.05)
        info = await local_backend.inspect(handle.executor_id)
    assert info is not None and info.running is False
    assert info.exit_code == -signal.SIGKILL
    assert [i.running for i in await local_backend.list_managed()] == [False]
    started = time.monotonic()
    with pytest.raises(ExecutorUnhealthy, match="exited"):
        await local_backend.wait_healthy(handle, 30)
    assert time.monotonic() - started < 5
    again = await local_backend.start(spec)
    await local_backend.wait_healthy(again, 30)
    assert local_backend._read(again.executor_id)["pid"] != pid  # type: ignore[index]


async def test_stop_kills_the_whole_group_after_the_grace_period(tmp_path: Path, make_local_spec: SpecFactory) -> None:
    """A member that ignores SIGTERM (here a shell and its `sleep`) is SIGKILLed after the grace period."""
    wrapper = tmp_path / "stubborn-python"
    wrapper.write_text(f'#!/bin/sh\ntrap "" TERM\nsleep 300 &\n"{sys.executable}" "$@"\nwait\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    # Spawned, not forked: the stubborn shell must sit inside the executor's group (a fork's group holds only
    # the executor); stopping a group is the same code either way.
    backend = LocalBackend(tmp_path / "state", python=str(wrapper), stop_grace_s=1.0, zygote=False)
    spec = make_local_spec()
    handle = await backend.start(spec)
    await backend.wait_healthy(handle, 30)
    pgid = backend._read(handle.executor_id)["pgid"]  # type: ignore[index]
    started = time.monotonic()
    await backend.stop(handle.executor_id)
    elapsed = time.monotonic() - started
    assert not group_alive(pgid)
    assert 1.0 <= elapsed < 5, elapsed


async def test_taken_port_and_bad_workdir(local_backend: LocalBackend, make_local_spec: SpecFactory) -> None:
    spec = make_local_spec()
    handle = await local_backend.start(spec)
    await local_backend.wait_healthy(handle, 30)
    other = make_local_spec(port=spec.port)
    with pytest.raises(ExecutorStartError, match="in use"):
        await local_backend.start(other)
    with pytest.raises(ExecutorStartError, match="absolute"):
        await local_backend.start(make_local_spec(workdir_volume="relative/dir"))


async def test_workdir_volume_is_the_working_directory(
    local_backend: LocalBackend, make_local_spec: SpecFactory, tmp_path: Path
) -> None:
    workdir = tmp_path / "ws"
    spec = make_local_spec(workdir_volume=str(workdir))
    handle = await local_backend.start(spec)
    await local_backend.wait_healthy(handle, 30)
    pid = local_backend._read(handle.executor_id)["pid"]  # type: ignore[index]
    assert proc_cwd(pid) == workdir.resolve()


async def test_a_dead_zygote_is_replaced(local_backend: LocalBackend, make_local_spec: SpecFactory) -> None:
    first = await local_backend.start(make_local_spec())
    await local_backend.wait_healthy(first, 30)
    zygote = local_backend._zygote
    assert zygote is not None and zygote._proc is not None
    zygote._proc.kill()
    zygote._proc.wait()
    second = await local_backend.start(make_local_spec())
    await local_backend.wait_healthy(second, 30)
    assert zygote.alive() and local_backend._children == {}  # forked by the new zygote, not spawned
    # The executor started by the dead zygote lives on and is still managed.
    info = await local_backend.inspect(first.executor_id)
    assert info is not None and info.running
