"""The Docker backend against the real engine and the real executor image (``python -m executor``)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import uuid
from collections.abc import Callable

import docker
import httpx
import pytest
from docker.errors import NotFound

from activities.executors.base import (
    ExecutorImageMissing,
    ExecutorSpec,
    ExecutorStartError,
    ExecutorUnhealthy,
    executor_name,
)
from activities.executors.docker_backend import DockerBackend
from executor.client import ExecutorClient
from tests.backends.conftest import TOKEN
from tests.support.model_server import ModelServer
from wegent.events import EventType, RunEvent
from wegent.executor_api import ModelConfig, RunRequest
from wegent.limits import SandboxLimits

pytestmark = pytest.mark.docker

SpecFactory = Callable[..., ExecutorSpec]
OFFLINE = SandboxLimits(network=False)


async def health(port: int) -> dict[str, object]:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{port}/health")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_start_healthy_hardened_and_labelled(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    spec = make_spec(limits=SandboxLimits(cpu=0.5, memory="256m", pids=128), env={"WEGENT_EXTRA": "yes"})
    handle = await docker_backend.start(spec)
    assert handle.backend == "docker"
    assert handle.executor_id == executor_name(spec.task_id, spec.workflow_id)
    assert (handle.host, handle.port) == ("127.0.0.1", spec.port)
    await docker_backend.wait_healthy(handle, 60)
    assert (await health(spec.port))["status"] == "ok"

    container = docker_client.containers.get(handle.executor_id)
    attrs = container.attrs
    assert container.labels["wegent.managed"] == "true"
    assert container.labels["wegent.task"] == str(spec.task_id)
    assert container.labels["wegent.workflow"] == spec.workflow_id

    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert env["EXECUTOR_TOKEN"] == TOKEN
    assert env["EXECUTOR_PORT"] == "8080"
    assert env["WEGENT_EXTRA"] == "yes"

    host_config = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "10001"
    assert host_config["Memory"] == 256 * 1024 * 1024
    assert host_config["MemorySwap"] == 256 * 1024 * 1024  # no swap on top
    assert host_config["PidsLimit"] == 128
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host_config["SecurityOpt"]
    assert host_config["Privileged"] is False
    assert host_config["AutoRemove"] is False
    assert host_config["Init"] is True
    assert "host.docker.internal:host-gateway" in host_config["ExtraHosts"]
    mounts = [m.get("Source", "") for m in attrs["Mounts"]] + list(host_config.get("Binds") or [])
    assert not any("docker.sock" in m for m in mounts)

    # Its own bridge, where one task's sandbox cannot talk to another's.
    assert list(attrs["NetworkSettings"]["Networks"]) == [docker_backend.network_name]
    network = docker_client.networks.get(docker_backend.network_name)
    assert network.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"

    # Published on loopback only, in the config and in what the engine actually bound.
    assert host_config["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(spec.port)}]}
    assert attrs["NetworkSettings"]["Ports"]["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(spec.port)}]

    # Every process in the container runs as uid 10001 (docker top: UID column).
    top = container.top(ps_args="-o uid,pid,args")
    uids = {row[0] for row in top["Processes"]}
    assert uids == {"10001"}, top
    assert any("-m executor" in row[-1] for row in top["Processes"]), top
    exit_code, output = container.exec_run(["python3", "-c", "import os; print(os.getuid(), os.getcwd())"])
    assert exit_code == 0 and output.decode().split() == ["10001", "/workspace"]

    info = await docker_backend.inspect(handle.executor_id)
    assert info is not None and info.running and info.exit_code is None
    assert (info.task_id, info.workflow_id, info.port) == (spec.task_id, spec.workflow_id, spec.port)


async def test_token_reaches_the_executor(docker_backend: DockerBackend, make_spec: SpecFactory) -> None:
    spec = make_spec()
    handle = await docker_backend.start(spec)
    await docker_backend.wait_healthy(handle, 60)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{spec.port}", trust_env=False) as client:
        assert (await client.get("/runs/nope")).status_code == 401
        authed = await client.get("/runs/nope", headers={"Authorization": f"Bearer {TOKEN}"})
        assert authed.status_code == 404


async def test_start_is_idempotent_per_workflow(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    spec = make_spec()
    first = await docker_backend.start(spec)
    again = await docker_backend.start(spec)
    assert again == first
    # A retry that leased another port still gets the live executor (and its real port).
    moved = await docker_backend.start(spec.model_copy(update={"port": spec.port + 1}))
    assert moved == first
    named = docker_client.containers.list(all=True, filters={"label": f"wegent.workflow={spec.workflow_id}"})
    assert len(named) == 1


async def test_concurrent_starts_make_one_container(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    spec = make_spec()
    handles = await asyncio.gather(*(docker_backend.start(spec) for _ in range(3)))
    assert len({h.executor_id for h in handles}) == 1
    named = docker_client.containers.list(all=True, filters={"label": f"wegent.workflow={spec.workflow_id}"})
    assert len(named) == 1
    await docker_backend.wait_healthy(handles[0], 60)


async def test_stop_removes_and_is_idempotent(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    spec = make_spec()
    handle = await docker_backend.start(spec)
    await docker_backend.wait_healthy(handle, 60)
    started = time.monotonic()
    await docker_backend.stop(handle.executor_id)
    assert time.monotonic() - started < 10  # SIGTERM is honoured: no waiting out the grace period
    with pytest.raises(NotFound):
        docker_client.containers.get(handle.executor_id)
    assert await docker_backend.inspect(handle.executor_id) is None
    await docker_backend.stop(handle.executor_id)  # already gone: fine
    await docker_backend.stop("wegent-task-0-neverexisted")
    # The port is free again, so the same workflow can start anew on it.
    again = await docker_backend.start(spec)
    await docker_backend.wait_healthy(again, 60)
    await docker_backend.stop(again.executor_id)


async def test_list_managed_finds_it(docker_backend: DockerBackend, make_spec: SpecFactory) -> None:
    spec = make_spec()
    handle = await docker_backend.start(spec)
    managed = {info.executor_id: info for info in await docker_backend.list_managed()}
    assert handle.executor_id in managed
    info = managed[handle.executor_id]
    assert (info.task_id, info.workflow_id, info.running) == (spec.task_id, spec.workflow_id, True)
    # A second backend object (a restarted worker) sees the same thing.
    fresh = DockerBackend()
    assert handle.executor_id in {i.executor_id for i in await fresh.list_managed()}
    await docker_backend.stop(handle.executor_id)
    assert handle.executor_id not in {i.executor_id for i in await docker_backend.list_managed()}


async def test_killed_container_reports_exit_code(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    spec = make_spec()
    handle = await docker_backend.start(spec)
    await docker_backend.wait_healthy(handle, 60)
    docker_client.containers.get(handle.executor_id).kill()  # docker kill: SIGKILL
    info = await docker_backend.inspect(handle.executor_id)
    for _ in range(50):
        if info is not None and not info.running:
            break
        await asyncio.sleep(0.1)
        info = await docker_backend.inspect(handle.executor_id)
    assert info is not None
    assert info.running is False
    assert info.exit_code == 137
    assert info.oom_killed is False
    assert info.executor_id in {i.executor_id for i in await docker_backend.list_managed()}
    # wait_healthy does not wait out its timeout on a dead executor.
    started = time.monotonic()
    with pytest.raises(ExecutorUnhealthy, match="exited"):
        await docker_backend.wait_healthy(handle, 30)
    assert time.monotonic() - started < 5
    # A new start for the same workflow replaces the dead container.
    again = await docker_backend.start(spec)
    await docker_backend.wait_healthy(again, 60)
    assert (await docker_backend.inspect(again.executor_id)).running  # type: ignore[union-attr]


async def test_oom_kill_is_reported(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    """When the executor itself is OOM-killed the container ends and inspect says so.

    (Docker 20.10 raises State.OOMKilled only for the container's end; an OOM kill of some child inside a
    running container shows only as an "oom" engine event.)
    """
    spec = make_spec(limits=SandboxLimits(memory="96m"))
    handle = await docker_backend.start(spec)
    await docker_backend.wait_healthy(handle, 60)
    container = docker_client.containers.get(handle.executor_id)
    # Make the executor the OOM killer's first choice (raising a score needs no privilege), then
    # allocate (and touch) well past the limit inside the sandbox.
    code, out = container.exec_run(
        [
            "python3",
            "-c",
            "import os\n"
            "for p in (p for p in os.listdir('/proc') if p.isdigit() and p != '1'):\n"
            "    cmd = open(f'/proc/{p}/cmdline', 'rb').read()\n"
            "    if b'-m\\x00executor' in cmd:\n"
            "        open(f'/proc/{p}/oom_score_adj', 'w').write('1000')\n"
            "hog = [b'x' * (16 << 20) for _ in range(32)]\n",
        ]
    )
    info = await docker_backend.inspect(handle.executor_id)
    for _ in range(50):
        if info is not None and not info.running:
            break
        await asyncio.sleep(0.1)
        info = await docker_backend.inspect(handle.executor_id)
    assert info is not None and not info.running, (info, code, out)
    assert info.oom_killed is True, info
    assert info.exit_code == 137, info


async def test_missing_image_is_a_clear_error(docker_backend: DockerBackend, make_spec: SpecFactory) -> None:
    spec = make_spec(image=f"wegent-no-such-image:{uuid.uuid4().hex[:8]}")
    with pytest.raises(ExecutorImageMissing, match="No such image"):
        await docker_backend.start(spec)
    assert await docker_backend.inspect(executor_name(spec.task_id, spec.workflow_id)) is None


async def test_taken_port_fails_cleanly(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    spec = make_spec()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", spec.port))
        squatter.listen()
        with pytest.raises(ExecutorStartError, match=str(spec.port)):
            await docker_backend.start(spec)
    with pytest.raises(NotFound):
        docker_client.containers.get(executor_name(spec.task_id, spec.workflow_id))


async def test_network_off_is_isolated_but_reachable_on_loopback(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    spec = make_spec(limits=OFFLINE)
    handle = await docker_backend.start(spec)
    await docker_backend.wait_healthy(handle, 60)
    assert (handle.host, handle.port) == ("127.0.0.1", spec.port)
    assert (await health(spec.port))["status"] == "ok"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{spec.port}", trust_env=False) as client:
        authed = await client.get("/runs/nope", headers={"Authorization": f"Bearer {TOKEN}"})
        assert authed.status_code == 404

    container = docker_client.containers.get(handle.executor_id)
    networks = container.attrs["NetworkSettings"]["Networks"]
    isolated = f"{handle.executor_id}-isolated"  # a network of its own (issue 16, item 9)
    assert list(networks) == [isolated]
    assert docker_client.networks.get(isolated).attrs["Internal"] is True
    assert not container.attrs["HostConfig"]["PortBindings"]
    assert not container.attrs["HostConfig"]["ExtraHosts"]
    # No resolver for outside names (checked without sending anything off the host)...
    code, out = container.exec_run(
        [
            "python3",
            "-c",
            "import socket\n"
            "try:\n    socket.getaddrinfo('example.org', 80); print('resolved')\n"
            "except OSError: print('unresolved')\n",
        ],
        environment={"RES_OPTIONS": "timeout:1 attempts:1"},  # glibc's default would wait 10 s
    )
    assert code == 0 and out.decode().split() == ["unresolved"], out
    # ...and the engine's rule that drops whatever the bridge would forward off its own subnet.
    network = docker_client.networks.get(isolated)
    subnet = network.attrs["IPAM"]["Config"][0]["Subnet"]
    if shutil.which("iptables"):
        proc = await asyncio.create_subprocess_exec("iptables", "-S", stdout=asyncio.subprocess.PIPE)
        rules = (await proc.communicate())[0].decode()
        assert f"! -d {subnet} -i br-{network.id[:12]} -j DROP" in rules

    relay = docker_client.containers.get(f"{handle.executor_id}-relay")
    assert relay.labels["wegent.role"] == "relay"
    assert relay.attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert relay.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert relay.attrs["NetworkSettings"]["Ports"]["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(spec.port)}]
    # The reaper sees executors only; stopping the executor takes its relay along.
    assert relay.name not in {i.executor_id for i in await docker_backend.list_managed()}
    assert await docker_backend.start(spec) == handle  # idempotent in this mode too
    await docker_backend.stop(handle.executor_id)
    for name in (handle.executor_id, relay.name):
        with pytest.raises(NotFound):
            docker_client.containers.get(name)
    with pytest.raises(NotFound):  # the network goes with them
        docker_client.networks.get(isolated)


async def test_offline_sandboxes_cannot_reach_each_other(
    docker_backend: DockerBackend, docker_client: docker.DockerClient, make_spec: SpecFactory
) -> None:
    """Issue 16, item 9: each offline sandbox is alone on its network; only its own relay reaches it."""
    first, second = make_spec(limits=OFFLINE), make_spec(limits=OFFLINE)
    handles = [await docker_backend.start(spec) for spec in (first, second)]
    try:
        for handle in handles:
            await docker_backend.wait_healthy(handle, 60)
        target = docker_client.containers.get(handles[1].executor_id)
        (address,) = [n["IPAddress"] for n in target.attrs["NetworkSettings"]["Networks"].values()]
        probe = (
            "import socket\n"
            "s = socket.socket(); s.settimeout(3)\n"
            f"try:\n    s.connect(({address!r}, 8080)); print('reached')\n"
            "except OSError as exc:\n    print('unreachable')\n"
        )
        code, out = docker_client.containers.get(handles[0].executor_id).exec_run(["python3", "-c", probe])
        assert code == 0 and out.decode().split() == ["unreachable"], out
        # Both still answer through their own relays.
        for spec in (first, second):
            assert (await health(spec.port))["status"] == "ok"
    finally:
        for handle in handles:
            await docker_backend.stop(handle.executor_id)


async def test_a_chat_run_through_the_container(docker_backend: DockerBackend, make_spec: SpecFactory) -> None:
    """End to end: the containerized executor streams a run from a model server on the host."""
    model_key = "sk-backend-test"
    with ModelServer(api_key=model_key) as model_server:
        spec = make_spec()
        handle = await docker_backend.start(spec)
        await docker_backend.wait_healthy(handle, 60)
        request = RunRequest(
            run_id=f"run-{uuid.uuid4().hex[:8]}",
            model=ModelConfig(
                provider="openai",
                base_url=f"{model_server.url_for('host.docker.internal')}/v1",
                model="fake-model",
                api_key=model_key,
            ),
            prompt="hello from the sandbox",
        )
        async with ExecutorClient(f"http://{handle.host}:{handle.port}", TOKEN) as client:
            await client.start_run(request)
            events: list[RunEvent] = [e async for e in client.stream_events(request.run_id)]
        assert events[-1].type is EventType.DONE, events[-1]
        text = "".join(e.data["delta"] for e in events if e.type is EventType.TEXT)
        assert text == "echo: hello from the sandbox"
        assert len(model_server.requests()) == 1
