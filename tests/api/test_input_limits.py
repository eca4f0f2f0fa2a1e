"""Bad input cannot stall the API (issue 16, item 4): bounded bodies, no YAML aliases, bounded nesting and
document counts, a clear 4xx for every malformed body, and apply's work off the event loop."""

from __future__ import annotations

import asyncio
import time

import httpx
import yaml

from tests.api.stack import YAML
from wegent.config import get_settings

APPLY = "/api/v1/namespaces/default/apply"
JSON = {"content-type": "application/json"}
BODY_PATHS = (
    "/api/v1/auth/login",
    "/api/v1/tasks",
    APPLY,
    "/api/v1/namespaces/default/ghosts",
    "/api/v1/codec/decode",
    "/api/v1/admin/users",
)


def test_deeply_nested_json_is_a_400_naming_the_depth_on_every_endpoint(client, admin_headers):
    deep = "[" * 5000 + "]" * 5000
    for path in BODY_PATHS:
        response = client.post(path, content=deep, headers={**admin_headers, **JSON})
        assert response.status_code == 400, (path, response.status_code, response.text[:200])
        assert "nested 5000 levels deep" in response.json()["detail"]
    # Brackets inside strings are text, not nesting.
    response = client.post("/api/v1/auth/login", json={"username": "[" * 5000, "password": "{" * 1000}, headers=JSON)
    assert response.status_code == 422  # the username is too long: a validation error, not a depth one


def test_malformed_bodies_are_4xx_naming_the_problem(client, admin_headers):
    cases = [
        ("/api/v1/auth/login", b'{"username": "admin", "password": ', 422),  # truncated JSON
        ("/api/v1/auth/login", b"\xff\xfe\x00garbage", 422),  # not UTF-8 at all
        ("/api/v1/auth/login", b"[1, 2, 3]", 422),  # wrong type
        (APPLY, b'[{"kind": "Ghost", ', 400),
        (APPLY, b"\xff\xfe\x00garbage", 400),
        ("/api/v1/namespaces/default/ghosts", b"42", 422),
        ("/api/v1/codec/decode", b'{"payloads": [{"data": "not base64!"}]}', 422),
    ]
    for path, body, status in cases:
        response = client.post(path, content=body, headers={**admin_headers, **JSON})
        assert response.status_code == status, (path, body, response.status_code, response.text[:300])
        assert response.json()["detail"], (path, body)


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(client, admin_headers):
    limit = get_settings().max_body_bytes
    big = b"x" * (limit + 1)
    for headers in (YAML, JSON):
        response = client.post(APPLY, content=big, headers={**admin_headers, **headers})
        assert response.status_code == 413, response.text[:200]
        assert "WEGENT_MAX_BODY_BYTES" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        for _ in range(limit // 65536 + 2):
            yield b"#" * 65536

    for headers in (YAML, JSON):
        response = client.post(APPLY, content=chunks(), headers={**admin_headers, **headers})
        assert response.status_code == 413, response.text[:200]
        assert "WEGENT_MAX_BODY_BYTES" in response.json()["detail"]
    # Under the limit, the same endpoint still works.
    ghost = "kind: Ghost\nmetadata: {name: limits-ghost}\nspec: {systemPrompt: hi}\n"
    assert client.post(APPLY, content=ghost, headers={**admin_headers, **YAML}).status_code == 200


def test_yaml_alias_bomb_is_refused_at_once(client, make_user):
    _, user = make_user()
    levels = ["a: &a [" + ", ".join(["lol"] * 10) + "]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        levels.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ", ".join([f"*{prev}"] * 10) + "]")
    bomb = "kind: Ghost\nmetadata: {name: bomb}\nspec:\n  systemPrompt:\n" + "".join(
        "    " + line + "\n" for line in levels
    )
    assert len(bomb) < 1000  # 10^9 nodes once expanded
    started = time.monotonic()
    response = client.post(APPLY, content=bomb, headers={**user, **YAML})
    assert response.status_code == 400, response.text[:300]
    assert "aliases" in response.json()["detail"] and "line 6" in response.json()["detail"]
    assert time.monotonic() - started < 2


def test_deeply_nested_yaml_is_refused(client, make_user):
    _, user = make_user()
    deep = "kind: Ghost\nmetadata: {name: deep}\nspec: {systemPrompt: " + "[" * 5000 + "]" * 5000 + "}\n"
    response = client.post(APPLY, content=deep, headers={**user, **YAML})
    assert response.status_code == 400, response.text[:300]
    assert "nested more than 64 levels deep" in response.json()["detail"]


def test_too_many_documents_is_413_naming_the_limit(client, make_user):
    _, user = make_user()
    limit = get_settings().max_apply_documents
    docs = [{"kind": "Ghost", "metadata": {"name": f"g{i}"}, "spec": {"systemPrompt": "x"}} for i in range(limit + 1)]
    for body, headers in ((yaml.safe_dump_all(docs), YAML), (None, JSON)):
        if body is None:
            response = client.post(APPLY, json=docs, headers=user)
        else:
            response = client.post(APPLY, content=body, headers={**user, **headers})
        assert response.status_code == 413, response.text[:300]
        assert f"at most {limit}" in response.json()["detail"]
        assert "WEGENT_MAX_APPLY_DOCUMENTS" in response.json()["detail"]
    assert client.get("/api/v1/namespaces/default/ghosts", headers=user).json()["items"] == []


async def test_a_big_apply_does_not_stall_other_requests(client, make_user):
    """While one apply parses, validates and writes hundreds of documents, the same process answers others."""
    from api.main import app

    _, user = make_user()
    docs = [{"kind": "Ghost", "metadata": {"name": f"s{i}"}, "spec": {"systemPrompt": "x" * 200}} for i in range(400)]
    body = yaml.safe_dump_all(docs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as http:
        apply = asyncio.create_task(http.post(APPLY, content=body, headers={**user, **YAML}))
        await asyncio.sleep(0.05)  # the apply is under way
        health = asyncio.create_task(http.get("/healthz"))
        done, _ = await asyncio.wait({apply, health}, return_when=asyncio.FIRST_COMPLETED)
        assert health in done and apply not in done, "the health check waited for the apply"
        assert (await health).status_code == 200
        response = await apply
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["results"]) == 400
