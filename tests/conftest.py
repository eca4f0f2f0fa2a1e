"""Test configuration: a fresh MariaDB database per run, the real Redis and Temporal, isolated state.

The environment is set before any Wegent module is imported, because settings and engines are cached.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

MYSQL_HOST = os.environ.get("WEGENT_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("WEGENT_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("WEGENT_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("WEGENT_TEST_MYSQL_PASSWORD", "")

TEST_DB = f"wegent_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
STATE_DIR = Path(tempfile.mkdtemp(prefix="wegent-test-"))
ADMIN_PASSWORD = "admin-" + secrets.token_urlsafe(8)
# A fixed, test-only key (it protects nothing real): recorded workflow histories stay decodable for replay.
ENCRYPTION_KEYS = "t1:" + base64.b64encode(b"wegent-test-key-not-a-secret-32b").decode()


def mysql_url(database: str = TEST_DB) -> str:
    auth = MYSQL_USER + (f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else "")
    return f"mysql+pymysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{database}?charset=utf8mb4"


def _admin_connection() -> pymysql.connections.Connection:
    try:
        return pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD)
    except pymysql.MySQLError as exc:  # never skip: a missing service is a failure to provision
        raise RuntimeError(
            f"MariaDB/MySQL is not reachable at {MYSQL_HOST}:{MYSQL_PORT} ({exc}); run `make test`, which provisions it"
        ) from exc


TEST_ENV = {
    "WEGENT_STATE_DIR": str(STATE_DIR),
    "WEGENT_DATABASE_URL": mysql_url(),
    "WEGENT_SECRET_KEY": secrets.token_urlsafe(32),
    "WEGENT_ENCRYPTION_KEYS": ENCRYPTION_KEYS,
    "WEGENT_ADMIN_USERNAME": "admin",
    "WEGENT_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "WEGENT_LOG_LEVEL": "WARNING",
    # The scripted model servers listen on loopback (the Docker executors reach them as host.docker.internal):
    # allowed for users' Models by configuration, as an operator would (the egress policy, issue 16 item 9).
    "WEGENT_EGRESS_ALLOW": '["127.0.0.0/8", "host.docker.internal"]',
    # Many test users share one deployment whose local-backend stacks run agents unsandboxed, knowingly.
    "WEGENT_ALLOW_UNSANDBOXED": "1",
    "WEGENT_REDIS_PREFIX": f"wegent-test-{uuid.uuid4().hex[:8]}",
    # A Temporal namespace per run: task ids restart with each fresh database, workflow ids must not collide.
    "WEGENT_TEMPORAL_NAMESPACE": os.environ.get("WEGENT_TEST_NAMESPACE") or f"wegent-test-{uuid.uuid4().hex[:8]}",
}
os.environ.update(TEST_ENV)


def pytest_sessionstart(session: pytest.Session) -> None:
    conn = _admin_connection()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{TEST_DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    asyncio.run(_prepare_temporal())


def _remove_executors() -> None:
    """Executors are their own process groups / containers: remove whatever this run's stacks left."""
    import subprocess

    scope = TEST_ENV["WEGENT_TEMPORAL_NAMESPACE"]
    state = STATE_DIR / "executors"
    if state.exists():
        from activities.executors.local_backend import LocalBackend

        backend = LocalBackend(state, scope=scope)

        async def stop_all() -> None:
            for info in await backend.list_managed():
                await backend.stop(info.executor_id)

        asyncio.run(stop_all())
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=wegent.scope={scope}"], capture_output=True, text=True, check=False
    )
    if found.returncode == 0 and found.stdout.split():
        subprocess.run(["docker", "rm", "-f", *found.stdout.split()], capture_output=True, check=False)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # The report is printed by now. Skip interpreter finalisation: the Temporal client's native runtime has
    # been seen to crash while being torn down at exit, which would turn a green run into a SIGSEGV.
    if _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[0])


async def _prepare_temporal() -> None:
    from temporalio.client import Client

    from wegent.temporal.search_attributes import ensure_namespace, register

    address = os.environ.get("WEGENT_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    namespace = TEST_ENV["WEGENT_TEMPORAL_NAMESPACE"]
    try:
        client = await Client.connect(address)
    except Exception as exc:  # never skip: a missing service is a failure to provision
        raise RuntimeError(f"Temporal is not reachable at {address} ({exc}); run `make test`") from exc
    await ensure_namespace(client, namespace)
    for attempt in range(100):  # a new namespace reaches every Temporal service a moment later
        try:
            await register(client, namespace)
            return
        except Exception:
            if attempt == 99:
                raise
            await asyncio.sleep(0.2)


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))
    try:
        _teardown_session()
    except BaseException:
        # Leftover executors or an undroppable database are failures too: say so, and fail the run.
        import traceback

        traceback.print_exc()
        print("\nsession teardown failed (see above)", file=sys.stderr)
        if not _EXIT_STATUS[0]:
            _EXIT_STATUS[0] = 1
        session.exitstatus = _EXIT_STATUS[0]


def _teardown_session() -> None:
    _remove_executors()
    conn = _admin_connection()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{TEST_DB}`")
    conn.close()
    if not os.environ.get("WEGENT_TEST_NAMESPACE"):  # a named namespace is kept on purpose (recording)
        # The run's namespace goes too, with its workflows and schedules (best effort).
        import subprocess
        import sys

        temporal = Path(sys.executable).parent / "temporal"
        subprocess.run(
            [
                str(temporal),
                "operator",
                "namespace",
                "delete",
                "--yes",
                "--namespace",
                TEST_ENV["WEGENT_TEMPORAL_NAMESPACE"],
                "--address",
                os.environ.get("WEGENT_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )


@pytest.fixture(scope="session")
def client() -> Iterator:
    """The ASGI app with its lifespan (migrations, admin bootstrap) on the run's MariaDB database."""
    from fastapi.testclient import TestClient

    from api.main import app

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def admin_headers(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return login(client, "admin", ADMIN_PASSWORD)


def login(client, username: str, password: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    # The shared client must not carry one user's session cookie (set at sign-in for the codec) into requests
    # made as someone else: tests authenticate with the bearer header they are given.
    client.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def make_user(client, admin_headers):  # type: ignore[no-untyped-def]
    """Create a fresh user and return (user id, auth headers)."""

    def _make(role: str = "user") -> tuple[int, dict[str, str]]:
        username = f"u{uuid.uuid4().hex[:10]}"
        password = secrets.token_urlsafe(12)
        response = client.post(
            "/api/v1/admin/users",
            json={"username": username, "password": password, "role": role},
            headers=admin_headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"], login(client, username, password)

    return _make
