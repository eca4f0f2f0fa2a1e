"""The README's production path on a Temporal that has never seen Wegent: nothing registered beforehand.

`wegent db upgrade`, then `wegent api` and `wegent worker` as an operator starts them (MariaDB, Redis, local
executors); the first task must complete, which needs the search attributes the worker and the API register.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.conftest import STATE_DIR, _admin_connection, mysql_url
from tests.e2e.teams import team_yaml
from tests.support.stack import Process, Stack, free_port
from wegent.temporal import search_attributes

WEGENT = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def bare_temporal(tmp_path: Path) -> Iterator[str]:
    """A Temporal dev server of its own (in memory, namespace `default` only, no search attributes)."""
    port = free_port()
    server = Process(
        f"bare-temporal-{port}",
        [
            *(str(Path(sys.executable).parent / "temporal"), "server", "start-dev", "--headless"),
            *("--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(free_port()), "--log-level", "warn"),
        ],
        dict(os.environ),
        tmp_path,
    )
    address = f"127.0.0.1:{port}"
    try:
        try:
            asyncio.run(_wait_for_temporal(address))
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log:\n{server.tail()}") from exc
        yield address
    finally:
        server.stop()


async def _wait_for_temporal(address: str) -> None:
    from temporalio.client import Client

    deadline = asyncio.get_running_loop().time() + 180  # a dev server starts slowly on a loaded 2-core machine
    while asyncio.get_running_loop().time() < deadline:
        try:
            await Client.connect(address)
            return
        except Exception:  # noqa: BLE001 - not serving yet
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the bare Temporal dev server did not answer on {address}")


async def _registered(address: str) -> set[str]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.client import Client

    client = await Client.connect(address)
    found = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    return set(found.custom_attributes)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"wegent_prod_{uuid.uuid4().hex[:8]}"
    conn = _admin_connection()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def test_db_upgrade_api_and_worker_on_a_bare_temporal(bare_temporal, fresh_database, model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert not {k.name for k in search_attributes.ALL} & asyncio.run(_registered(bare_temporal))
    env = {
        "WEGENT_DATABASE_URL": mysql_url(fresh_database),
        "WEGENT_TEMPORAL_ADDRESS": bare_temporal,
        "WEGENT_TEMPORAL_NAMESPACE": "default",
        "WEGENT_REDIS_URL": "redis://127.0.0.1:6379/0",
        "WEGENT_EXECUTOR_BACKEND": "local",
        "WEGENT_STATE_DIR": str(tmp_path / "state"),
    }
    upgraded = subprocess.run(
        [*WEGENT, "db", "upgrade"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert upgraded.returncode == 0, upgraded.stderr
    conn = pymysql.connect(host="127.0.0.1", user="root", database=fresh_database)
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert {"tasks", "resources", "users"} <= {row[0] for row in cur.fetchall()}
    conn.close()

    log_dir = STATE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(env, log_dir, name="prod").start()
    try:
        stack.apply(team_yaml("prod", model.openai_base_url, [{"bot": "solo"}], collaboration="solo"))
        task = stack.create_task("prod-team", "hello production")
        done = stack.wait_state(task["id"], {"COMPLETED", "FAILED"}, timeout=120)
        assert done["state"] == "COMPLETED", done
        assert done["messages"][-1]["content"] == "echo: hello production"
    finally:
        stack.stop()
    assert {k.name for k in search_attributes.ALL} <= asyncio.run(_registered(bare_temporal))
