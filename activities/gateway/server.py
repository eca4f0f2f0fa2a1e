"""Run the gateway inside the worker process, on addresses its sandboxes can reach and nothing wider by default.

- Local executors reach it on 127.0.0.1.
- Docker sandboxes reach the host as ``host.docker.internal``, which Docker maps to the host's address on its
  default bridge: the gateway listens there too (read from the engine), not on every interface.
- ``WEGENT_GATEWAY_HOST`` replaces both with its own list; ``WEGENT_GATEWAY_PORT`` fixes the port (default: a
  free one; every run request carries the URL, so nothing else needs to know it).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from activities.gateway.app import Gateway
from wegent.config import Settings
from wegent.http import tls_context
from wegent.logging import get_logger

log = get_logger("activities.gateway")
DOCKER_HOST_ALIAS = "host.docker.internal"
ROOT = str(Path(__file__).resolve().parents[2])  # where `activities` is importable from


def docker_bridge_address(client: Any) -> str | None:
    """The host's address on Docker's default bridge (where ``host-gateway`` points), or None."""
    try:
        configs = client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or []
    except Exception:  # noqa: BLE001 - no engine, no bridge: local executors only
        return None
    for config in configs:
        if config.get("Gateway"):
            return str(config["Gateway"])
        subnet = config.get("Subnet")
        if subnet and ipaddress.ip_network(subnet, strict=False).version == 4:
            return str(next(ipaddress.ip_network(subnet, strict=False).hosts()))
    return None


def bind(addresses: list[str], port: int) -> tuple[list[socket.socket], int]:
    """Listening sockets on every address, sharing one port (the first's, when ``port`` is 0)."""
    sockets: list[socket.socket] = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if not sockets:
                raise RuntimeError(f"the model gateway cannot listen on {address}:{port}: {exc}") from exc
            log.warning("gateway.bind_failed", address=address, port=port, error=str(exc))
            continue
        sock.listen(512)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        sockets.append(sock)
    return sockets, port


async def serve(gateway: Gateway, sockets: list[socket.socket]) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(gateway.app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # Signals belong to the process's owner (the gateway's own main, or a test); it stops the server itself.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # uvicorn < 0.29
    task = asyncio.create_task(server.serve(sockets=sockets), name="model-gateway")
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the model gateway stopped during start-up")
        await asyncio.sleep(0.02)
    return server, task


class GatewayProcess:
    """The worker's handle on its gateway: a process of its own (``python -m activities.gateway``).

    Not a task in the worker's event loop: a step's run goes on in its sandbox when its worker is killed or
    restarted (the next worker re-attaches to it), so the model call it is streaming must go on too. The
    process leaves once its worker is gone and no call has been open for ``LINGER_SECONDS``.
    """

    LINGER_SECONDS = 30.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port: int | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._local = "127.0.0.1"  # where this worker reaches the gateway itself
        self._client: httpx.AsyncClient | None = None

    def url_for(self, backend: str) -> str:
        if self.port is None:
            raise RuntimeError("the model gateway is not running")
        host = DOCKER_HOST_ALIAS if backend == "docker" else "127.0.0.1"
        return f"http://{host}:{self.port}/v1"

    def addresses(self, docker_client: Any) -> list[str]:
        configured = [h.strip() for h in self.settings.gateway_host.split(",") if h.strip()]
        if configured:
            return configured
        addresses = ["127.0.0.1"]
        bridge = docker_bridge_address(docker_client) if docker_client is not None else None
        if bridge:
            addresses.append(bridge)
        return addresses

    async def start(self, docker_client: Any = None, timeout: float = 60.0) -> None:
        addresses = await asyncio.to_thread(self.addresses, docker_client)
        if "127.0.0.1" not in addresses and "0.0.0.0" not in addresses:
            self._local = addresses[0]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "activities.gateway", "--hosts", ",".join(addresses)]
        command += ["--port", str(self.settings.gateway_port), "--parent", str(os.getpid())]
        command += ["--linger", str(self.LINGER_SECONDS)]
        # A session of its own: a signal to the worker's process group (Ctrl-C, kill of a test stack) is not
        # one to the gateway, which decides to leave by itself.
        self.process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, env=env, start_new_session=True
        )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            self.port = int(json.loads(line)["port"])
        except (TimeoutError, ValueError, KeyError) as exc:
            raise RuntimeError(f"the model gateway did not start (exit code {self.process.returncode})") from exc
        log.info("gateway.started", addresses=addresses, port=self.port, pid=self.process.pid)

    async def prefetch(self, key: str) -> None:
        """Have the gateway check a step's key now, beside the run's start, not when the run's first call comes.

        Only an optimisation: if it fails or comes late, the call checks itself."""
        if self.port is None:
            return
        if self._client is None:
            # The process's shared TLS context: httpx builds one per client otherwise, tens of ms on a first step.
            self._client = httpx.AsyncClient(timeout=2.0, trust_env=False, verify=tls_context())
        with contextlib.suppress(httpx.HTTPError):
            await self._client.post(
                f"http://{self._local}:{self.port}/prefetch", headers={"Authorization": f"Bearer {key}"}
            )

    async def stop(self, wait: float = 5.0) -> None:
        """The worker stops: the gateway leaves as soon as no call is open (a step handed over keeps its own)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), wait)


async def run_process(addresses: list[str], port: int, parent: int, linger: float) -> None:
    """The gateway process: serve until the worker is gone and no call has been open for ``linger`` seconds."""
    from core.db.session import get_sessionmaker
    from wegent.crypto import get_keyring

    gateway = Gateway(get_sessionmaker(), get_keyring())
    sockets, port = bind(addresses, port)
    server, task = await serve(gateway, sockets)
    print(json.dumps({"port": port}), flush=True)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nobody reads on: a write must not fail later
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()  # SIGTERM: the worker stops; leave once no call is open
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    idle_since = None
    while not task.done():
        await asyncio.sleep(0.25)
        orphaned = not _alive(parent)
        if not (stopping.is_set() or orphaned) or gateway.active:
            idle_since = None
            continue
        now = loop.time()
        idle_since = idle_since or now
        # A killed worker's successor may re-attach to a run that calls again soon: wait a while for that.
        if now - idle_since >= (linger if orphaned and not stopping.is_set() else 0.5):
            break
    log.info("gateway.leaving", port=port)
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, timeout=10)
    await gateway.close()


def _alive(pid: int) -> bool:
    if os.getppid() == pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
