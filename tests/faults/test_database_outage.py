"""The database goes away for a while: the API answers 503 with a clear message, then recovers by itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PORT, TEST_DB, mysql_url
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy((MYSQL_HOST, MYSQL_PORT)).start()
    yield proxy
    proxy.cut()


def test_api_answers_503_while_the_database_is_down_and_recovers(stack_factory, proxy):
    url = mysql_url(TEST_DB).replace(f"{MYSQL_HOST}:{MYSQL_PORT}", f"127.0.0.1:{proxy.port}")
    stack = stack_factory("local", WEGENT_DATABASE_URL=url, WEGENT_AUTH_CACHE_SECONDS="0")
    assert stack.request("GET", "/api/v1/tasks").status_code == 200

    proxy.cut()
    for path in ("/api/v1/tasks", "/api/v1/namespaces/default/teams", "/api/v1/users/me"):
        down = stack.request("GET", path)
        assert down.status_code == 503, (path, down.status_code, down.text)
        assert "database is unavailable" in down.json()["detail"]
        assert down.headers["Retry-After"].isdigit()
    assert httpx.get(f"{stack.url}/readyz", timeout=10).status_code == 503
    assert stack.api is not None and stack.api.alive()
    # The log says which failure it was (the driver's error number: here the connection, not a busy row).
    lines = stack.api.log_path.read_text().splitlines()
    logged = [json.loads(line) for line in lines if "api.database_unavailable" in line]
    assert logged and {entry["code"] for entry in logged} <= {2003, 2006, 2013}, logged[:3]

    proxy.restore()
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline:
        status = stack.request("GET", "/api/v1/tasks").status_code
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200
    assert httpx.get(f"{stack.url}/readyz", timeout=10).status_code == 200
