"""The API's own OpenAPI spec, fuzzed with schemathesis as a signed-in user: no input gets a 5xx, and the API
still answers afterwards (issue 16). Bounded: a few examples per operation, no example database on disk."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.main import app

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def user_headers(client, admin_headers) -> dict[str, str]:  # type: ignore[no-untyped-def]
    name, password = "fz" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex
    created = client.post("/api/v1/admin/users", json={"username": name, "password": password}, headers=admin_headers)
    assert created.status_code == 201, created.text
    token = client.post("/api/v1/auth/login", json={"username": name, "password": password}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case, user_headers) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers=user_headers)
    assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text[:300])


def test_the_api_still_answers_after_the_fuzzing(client, user_headers) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/users/me", headers=user_headers).status_code == 200
