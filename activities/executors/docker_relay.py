"""The relay that publishes an offline executor's port (``network=False``).

Docker publishes no port of a container on an ``internal`` network, so an offline executor alone on its own
internal bridge would be unreachable. A small relay container joins both that bridge and the shared executors'
network, publishes 127.0.0.1:<port> and forwards it to the executor's port 8080. It runs the executor's own image
with our fixed forwarding code below, hardened like the executor and with a read-only rootfs; it only forwards
inbound connections to one fixed target, so it gives the executor no way out.

The one way out an offline agent keeps is its model, through this host's model gateway (which takes only the
step's own key): on the executor's bridge the relay answers as ``host.docker.internal`` (a network alias),
listens on the gateway's port and forwards to the gateway on the host. Nothing else is forwarded.
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
    LABEL_SCOPE,
    LABEL_TASK,
    LABEL_WORKFLOW,
    hardening,
    remove,
)
from activities.executors.docker_networks import create_isolated_network

RELAY_PORT = 8080
DOCKER_HOST_ALIAS = "host.docker.internal"
LABEL_GATEWAY = "wegent.gateway_port"

# The relay's whole program: for each `listen:target:port` argument, accept on 0.0.0.0:<listen> and pipe
# bytes both ways to <target>:<port>.
RELAY_CODE = r"""
import asyncio, functools, sys

FORWARDS = [(int(a.split(":")[0]), a.split(":")[1], int(a.split(":")[2])) for a in sys.argv[1:]]


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


async def handle(target, target_port, client_reader, client_writer):
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(target, target_port), 5)
    except (OSError, asyncio.TimeoutError):
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))
    for w in (up_writer, client_writer):
        w.close()


async def main():
    servers = [
        await asyncio.start_server(functools.partial(handle, target, port), "0.0.0.0", listen)
        for listen, target, port in FORWARDS
    ]
    await asyncio.gather(*(server.serve_forever() for server in servers))


asyncio.run(main())
"""


def relay_name(executor: str) -> str:
    return f"{executor}-relay"


def ensure_relay(
    client: docker.DockerClient,
    executor: Container,
    outer_network: str,
    publish_ip: str,
    gateway_port: int | None = None,
) -> None:
    """Make sure the relay publishing an isolated executor's port runs (a dead one is replaced); with the
    model gateway's port, it also takes the executor's calls to the gateway there."""
    name = relay_name(executor.name)
    try:
        relay: Container | None = client.containers.get(name)
    except NotFound:
        relay = None
    # A worker restarted since may run its gateway on another port: such a relay is replaced too.
    if (
        relay is not None
        and relay.status == "running"
        and relay.labels.get(LABEL_GATEWAY, "") == str(gateway_port or "")
    ):
        return
    if relay is not None:
        remove(relay)
    port = int(executor.labels[LABEL_PORT])
    # The executor's own network (executors started before per-executor networks sit on a shared one).
    inner = next(iter(executor.attrs["NetworkSettings"]["Networks"]), None) or create_isolated_network(
        client, executor.name
    )
    forwards = [f"{RELAY_PORT}:{executor.name}:{CONTAINER_PORT}"]
    if gateway_port:
        forwards.append(f"{gateway_port}:{DOCKER_HOST_ALIAS}:{gateway_port}")
    relay = client.containers.create(
        executor.attrs["Image"],  # the executor's own image id: no second image to trust
        name=name,
        entrypoint=["python3", "-c", RELAY_CODE],
        command=forwards,
        labels={
            LABEL_MANAGED: "true",
            LABEL_ROLE: "relay",
            LABEL_EXECUTOR: executor.name,
            LABEL_TASK: executor.labels.get(LABEL_TASK, ""),
            LABEL_WORKFLOW: executor.labels.get(LABEL_WORKFLOW, ""),
            # Found with its deployment's executors by scope (clean-ups that sweep a deployment remove it too).
            LABEL_SCOPE: executor.labels.get(LABEL_SCOPE, ""),
            LABEL_GATEWAY: str(gateway_port or ""),
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
        # The relay itself reaches the host (the gateway); the executor reaches only the relay.
        extra_hosts={DOCKER_HOST_ALIAS: "host-gateway"},
        **hardening(),
    )
    try:
        aliases = [DOCKER_HOST_ALIAS] if gateway_port else None
        client.networks.get(inner).connect(relay, aliases=aliases)
        relay.start()
    except APIError:
        remove(relay)
        raise


def relays_of(client: docker.DockerClient, executor: str) -> list[Container]:
    """Every relay forwarding to ``executor`` (found by label, so a renamed or half-made one too)."""
    return client.containers.list(
        all=True, filters={"label": [f"{LABEL_MANAGED}=true", f"{LABEL_EXECUTOR}={executor}"]}
    )
