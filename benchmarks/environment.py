"""The benchmarks' isolated Wegent world (``BenchEnv``) and the plumbing every benchmark script shares.

``BenchEnv`` gives a run its own MariaDB database (``wegent_bench_<random>``), Temporal namespace, Redis key
prefix, state folder, admin password, JWT secret and encryption key, plus a random executor port window and
a random task-id range (executor containers are named after the task id, so a run must not share ids with a
test suite running at the same time on this Docker engine). It starts real stacks (API under uvicorn and
workers, ``tests.support.stack.Stack``) inside that world and, on exit, removes everything it made: the
stacks, executor containers and processes of its tasks, its Redis keys, the Temporal namespace, the database
and the state folder (``--keep-logs`` keeps the folder with the process logs).

Everything talks to 127.0.0.1 only (and executors in containers reach the host's fake model through
``host.docker.internal``, which Docker maps to the host gateway).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pymysql

from tests.support.stack import Stack

# As in tests/e2e/conftest.py: inside an executor container the host is host.docker.internal.
DOCKER_HOST_ALIAS = "host.docker.internal"

MYSQL_HOST = os.environ.get("WEGENT_BENCH_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("WEGENT_BENCH_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("WEGENT_BENCH_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("WEGENT_BENCH_MYSQL_PASSWORD", "")
REDIS_URL = os.environ.get("WEGENT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TEMPORAL_ADDRESS = os.environ.get("WEGENT_BENCH_TEMPORAL_ADDRESS", "127.0.0.1:7233")


def log(message: str) -> None:
    """Progress goes to stderr, results to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- environment


def _admin_connection(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=MYSQL_USER,
        password=MYSQL_PASSWORD,
        database=database,
        autocommit=True,
    )


class BenchEnv:
    """An isolated Wegent world for one benchmark run (use as ``async with BenchEnv(...) as env``)."""

    def __init__(self, label: str, *, temporal: bool = True, keep_logs: bool = False, log_level: str = "INFO") -> None:
        self.id = uuid.uuid4().hex[:8]
        self.label = label
        self.db_name = f"wegent_bench_{self.id}"
        self.namespace = f"wegent-bench-{self.id}" if temporal else "default"
        self.uses_temporal = temporal
        self.redis_prefix = f"wegent-bench-{self.id}"
        self.state_dir = Path(tempfile.mkdtemp(prefix=f"wegent-bench-{label}-"))
        self.log_dir = self.state_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.keep_logs = keep_logs
        self.log_level = log_level
        self.admin_password = "bench-" + secrets.token_urlsafe(12)
        self.secret_key = secrets.token_urlsafe(32)
        self.encryption_keys = "b1:" + base64.b64encode(secrets.token_bytes(32)).decode()
        # A random 100-port window for executors and a random task-id range (see the module docstring).
        self.port_low = random.randrange(20000, 29900, 100)
        self.task_id_base = random.randint(100_000_000, 900_000_000)
        self.stacks: list[Stack] = []
        self.task_ids: set[int] = set()
        self.used_docker = False
        self._db_created = False
        self._ids_bumped = False
        self._temporal: Any = None

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> BenchEnv:
        try:
            await self.setup()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def setup(self) -> None:
        log(f"environment {self.id}: database {self.db_name}, state {self.state_dir}")
        await asyncio.to_thread(self._create_database)
        if self.uses_temporal:
            await self._prepare_temporal()

    def _create_database(self) -> None:
        try:
            conn = _admin_connection()
        except pymysql.MySQLError as exc:
            raise RuntimeError(f"MariaDB is not reachable at {MYSQL_HOST}:{MYSQL_PORT}: {exc}") from exc
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{self.db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        self._db_created = True

    async def _prepare_temporal(self) -> None:
        # As tests/conftest.py does: a namespace of our own, with Wegent's search attributes registered.
        from temporalio.client import Client

        from wegent.temporal.search_attributes import ensure_namespace, register

        try:
            client = await Client.connect(TEMPORAL_ADDRESS)
        except Exception as exc:
            raise RuntimeError(f"Temporal is not reachable at {TEMPORAL_ADDRESS}: {exc}") from exc
        await ensure_namespace(client, self.namespace)
        for attempt in range(100):  # a new namespace reaches every Temporal service a moment later
            try:
                await register(client, self.namespace)
                break
            except Exception:
                if attempt == 99:
                    raise
                await asyncio.sleep(0.2)
        self._temporal = await Client.connect(TEMPORAL_ADDRESS, namespace=self.namespace)

    @property
    def temporal(self) -> Any:
        """A Temporal client on this run's namespace."""
        if self._temporal is None:
            raise RuntimeError("this environment was made without Temporal")
        return self._temporal

    def env(self) -> dict[str, str]:
        auth = MYSQL_USER + (f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else "")
        return {
            "WEGENT_STATE_DIR": str(self.state_dir),
            "WEGENT_DATABASE_URL": f"mysql+pymysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{self.db_name}?charset=utf8mb4",
            "WEGENT_SECRET_KEY": self.secret_key,
            "WEGENT_ENCRYPTION_KEYS": self.encryption_keys,
            "WEGENT_ADMIN_USERNAME": "admin",
            "WEGENT_ADMIN_PASSWORD": self.admin_password,
            "WEGENT_LOG_LEVEL": self.log_level,
            # The seeded users' Models and the scripted model server are on loopback (the egress policy).
            "WEGENT_EGRESS_ALLOW": '["127.0.0.0/8", "host.docker.internal"]',
            "WEGENT_ALLOW_UNSANDBOXED": "1",  # benchmark users on the local backend, knowingly
            "WEGENT_REDIS_URL": REDIS_URL,
            "WEGENT_REDIS_PREFIX": self.redis_prefix,
            "WEGENT_TEMPORAL_ADDRESS": TEMPORAL_ADDRESS,
            "WEGENT_TEMPORAL_NAMESPACE": self.namespace,
            "EXECUTOR_PORT_RANGE_MIN": str(self.port_low),
            "EXECUTOR_PORT_RANGE_MAX": str(self.port_low + 99),
        }

    async def start_stack(self, name: str, workers: int = 1, api_workers: int = 1, **extra: str) -> Stack:
        """An API (``api_workers`` processes) plus ``workers`` worker processes, ready and logged in as admin."""
        if extra.get("WEGENT_EXECUTOR_BACKEND") == "docker":
            self.used_docker = True
        stack = Stack({**self.env(), **extra}, self.log_dir, name=name)
        self.stacks.append(stack)  # before starting, so a failed start is still stopped
        await asyncio.to_thread(stack.start, workers, api_workers)
        if not self._ids_bumped:
            await asyncio.to_thread(self._bump_task_ids)
        log(f"stack {stack.name} up at {stack.url} ({workers} worker(s))")
        return stack

    def _bump_task_ids(self) -> None:
        conn = _admin_connection(self.db_name)
        with conn, conn.cursor() as cur:
            cur.execute(f"ALTER TABLE tasks AUTO_INCREMENT = {self.task_id_base}")
        self._ids_bumped = True

    async def wait_workflow_closed(self, workflow_id: str, timeout: float) -> str:
        """Poll until the workflow is no longer running; return its final status (COMPLETED, FAILED, ...).

        Polls `describe` instead of awaiting the result: results are encrypted by Wegent's payload codec and
        this client has no business decoding them.
        """
        from temporalio.client import WorkflowExecutionStatus

        handle = self.temporal.get_workflow_handle(workflow_id)
        deadline = time.monotonic() + timeout
        while True:
            status = (await handle.describe()).status
            if status is not None and status != WorkflowExecutionStatus.RUNNING:
                return status.name
            if time.monotonic() > deadline:
                raise TimeoutError(f"workflow {workflow_id} still running after {timeout:.0f}s")
            await asyncio.sleep(0.05)

    def track_task(self, task_id: int) -> None:
        self.task_ids.add(task_id)

    async def close(self) -> None:
        """Remove everything this run made; every step is attempted even when an earlier one fails."""
        steps = [
            ("stacks", self._stop_stacks),
            ("executor containers", self._remove_containers),
            ("executor processes", self._kill_local_executors),
            ("redis keys", self._delete_redis_keys),
            ("temporal namespace", self._delete_namespace),
            ("database", self._drop_database),
        ]
        for what, step in steps:
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - clean up as much as possible, say what was left
                log(f"cleanup of {what} failed: {exc!r}")
        if self.keep_logs:
            log(f"logs kept in {self.log_dir}")
        else:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def _stop_stacks(self) -> None:
        for stack in reversed(self.stacks):
            await asyncio.to_thread(stack.stop)
        self.stacks.clear()

    async def _remove_containers(self) -> None:
        if not self.used_docker or not self.task_ids:
            return

        def run() -> int:
            import docker

            client = docker.from_env()
            removed = 0
            for container in client.containers.list(all=True, filters={"label": "wegent.managed=true"}):
                labels = container.labels
                task = labels.get("wegent.task", "")
                if "wegent.scope" in labels:  # newer executors carry their deployment's Temporal namespace
                    ours = labels["wegent.scope"] == self.namespace
                else:
                    ours = (
                        task.isdigit()
                        and int(task) in self.task_ids
                        and labels.get("wegent.workflow") == f"task-{task}"
                    )
                if ours:
                    container.remove(force=True, v=True)
                    removed += 1
            client.close()
            return removed

        removed = await asyncio.to_thread(run)
        if removed:
            log(f"removed {removed} leftover executor container(s)")

    async def _kill_local_executors(self) -> None:
        await asyncio.to_thread(self._kill_local_executors_sync)

    def _kill_local_executors_sync(self) -> None:
        killed = 0
        for record_path in (self.state_dir / "executors").glob("*.json"):
            try:
                record = json.loads(record_path.read_text())
                pid = int(record["pid"])
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, ValueError, KeyError):
                continue
            if b"-m executor" in cmdline and record.get("task_id") in self.task_ids:
                try:
                    os.killpg(int(record.get("pgid", pid)), signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        if killed:
            log(f"killed {killed} leftover local executor(s)")

    async def _delete_redis_keys(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.redis_prefix}:*", count=500)]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
        finally:
            await client.aclose()

    async def _delete_namespace(self) -> None:
        if not self.uses_temporal or self._temporal is None:
            return
        from temporalio.api.operatorservice.v1 import DeleteNamespaceRequest

        await self._temporal.operator_service.delete_namespace(DeleteNamespaceRequest(namespace=self.namespace))

    async def _drop_database(self) -> None:
        if not self._db_created:
            return

        def run() -> None:
            conn = _admin_connection()
            with conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.db_name}`")

        await asyncio.to_thread(run)


# ---------------------------------------------------------------------------------------------- helpers


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split()[1]


def create_user(stack: Stack, prefix: str = "bench") -> tuple[str, dict[str, str]]:
    """A fresh ordinary user; returns (username, auth headers)."""
    username = f"{prefix}{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(16)
    response = stack.request(
        "POST", "/api/v1/admin/users", json={"username": username, "password": password, "role": "user"}
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating user failed: {response.status_code} {response.text}")
    return username, stack.login(username, password)


async def wait_http_ok(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def run_main(main: Coroutine[Any, Any, int]) -> int:
    """asyncio.run with SIGTERM handled like Ctrl-C: the main task is cancelled, so cleanup still runs."""

    async def runner() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await main

    try:
        return asyncio.run(runner())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; cleaned up what was started")
        return 130
