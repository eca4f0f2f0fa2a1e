"""The relay that publishes an offline executor's port (``network=False``).

Docker publishes no port of a container on an ``internal`` network, so an offline executor alone on its own
internal bridge would be unreachable. A small relay container joins both that bridge and the shared executors'
network, publishes 127.0.0.1:<port> and forwards it to the executor's port 8080. It runs the executor's own image
with our fixed forwarding code below, hardened like the executor and with a read-only rootfs; it only forwards
inbound connections to one fixed target, so it gives the executor no way out.
"""

from __future__ import annotations

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from activities.executors.base import CONTAINER_PORT
from activities.executors.docker_containers import (
    EXECUTOR_USER,
    LABEL_EXECUTOR,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_ROLE,
    LABEL_TASK,
    LABEL_WORKFLOW,
    hardening,
    remove,
)
from activities.executors.docker_networks import create_isolated_network

RELAY_PORT = 8080

# The relay's whole program: accept on 0.0.0.0:<listen>, pipe bytes both ways to <target>:<port>.
RELAY_CODE = r"""
import asyncio, sys

TARGET, TARGET_PORT, LISTEN_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def handle(client_reader, client_writer):
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(TARGET, TARGET_PORT), 5)
    except (OSError, asyncio.TimeoutError):
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))
    for w in (up_writer, client_writer):
        w.close()


async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", LISTEN_PORT)
    async with server:
        await server.serve_forever()


asyncio.run(main())
"""


def relay_name(executor: str) -> str:
    return f"{executor}-relay"


def ensure_relay(client: docker.DockerClient, executor: Container, outer_network: str, publish_ip: str) -> None:
    """Make sure the relay publishing an isolated executor's port runs (a dead one is replaced)."""
    name = relay_name(executor.name)
    try:
        relay: Container | None = client.containers.get(name)
    except NotFound:
        relay = None
    if relay is not None and relay.status == "running":
        return
    if relay is not None:
        remove(relay)
    port = int(executor.labels[LABEL_PORT])
    # The executor's own network (executors started before per-executor networks sit on a shared one).
    inner = next(iter(executor.attrs["NetworkSettings"]["Networks"]), None) or create_isolated_network(
        client, executor.name
    )
    relay = client.containers.create(
        executor.attrs["Image"],  # the executor's own image id: no second image to trust
        name=name,
        entrypoint=["python3", "-c", RELAY_CODE],
        command=[executor.name, str(CONTAINER_PORT), str(RELAY_PORT)],
        labels={
            LABEL_MANAGED: "true",
            LABEL_ROLE: "relay",
            LABEL_EXECUTOR: executor.name,
            LABEL_TASK: executor.labels.get(LABEL_TASK, ""),
            LABEL_WORKFLOW: executor.labels.get(LABEL_WORKFLOW, ""),
        },
        user=EXECUTOR_USER,
        detach=True,
        auto_remove=False,
        read_only=True,
        mem_limit="64m",
        memswap_limit="64m",
        pids_limit=32,
        network=outer_network,
        ports={f"{RELAY_PORT}/tcp": (publish_ip, port)},
        **hardening(),
    )
    try:
        client.networks.get(inner).connect(relay)
        relay.start()
    except APIError:
        remove(relay)
        raise


def relays_of(client: docker.DockerClient, executor: str) -> list[Container]:
    """Every relay forwarding to ``executor`` (found by label, so a renamed or half-made one too)."""
    return client.containers.list(
        all=True, filters={"label": [f"{LABEL_MANAGED}=true", f"{LABEL_EXECUTOR}={executor}"]}
    )
