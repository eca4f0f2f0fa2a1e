"""The internal network of each offline executor (``network=False``), so offline sandboxes cannot reach each other.

One bridge per executor, ``<executor>-isolated``, marked internal (no route off the host); only the executor and
its relay join it. The subnets are /28s of ``ISOLATED_POOL`` rather than Docker's default address pools, which
hold only a few dozen networks in all.
"""

from __future__ import annotations

import hashlib
import ipaddress

import docker
from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool

from activities.executors.base import ExecutorStartError

# 4096 /28 subnets, in a range unlikely to be routed on a host's LAN.
ISOLATED_POOL = ipaddress.ip_network("10.213.0.0/16")
LABEL_MANAGED = "wegent.managed"
LABEL_EXECUTOR = "wegent.executor"


def isolated_network_name(executor: str) -> str:
    return f"{executor}-isolated"


def create_isolated_network(client: docker.DockerClient, executor: str) -> str:
    """Create (or find) the executor's network; its subnet is derived from the name, the next free on a clash."""
    name = isolated_network_name(executor)
    subnets = 2 ** (28 - ISOLATED_POOL.prefixlen)
    first = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % subnets
    for attempt in range(64):  # a taken subnet (another executor's) means: try the next one
        offset = ((first + attempt) % subnets) * 16
        subnet = ipaddress.ip_network((int(ISOLATED_POOL.network_address) + offset, 28))
        try:
            client.networks.create(
                name,
                driver="bridge",
                internal=True,
                ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]),
                labels={LABEL_MANAGED: "true", LABEL_EXECUTOR: executor},
                check_duplicate=True,
            )
            return name
        except APIError as exc:
            if exc.status_code == 409:  # it exists: an earlier attempt of this start made it
                return name
            if "overlap" not in str(exc.explanation or exc).lower():
                raise
    raise ExecutorStartError(f"no free subnet for {name} in {ISOLATED_POOL}")


def remove_isolated_network(client: docker.DockerClient, executor: str) -> None:
    """After the executor and its relay are gone; nothing is an error when already gone."""
    try:
        client.networks.get(isolated_network_name(executor)).remove()
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code not in (403, 409):  # still in use (a removal in flight): the next stop gets it
            raise
