"""The Temporal console decodes with the web app's session: sign-in sets an HttpOnly cookie that only the codec
endpoint accepts, for the signed-in user's own payloads."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from tests.api.stack import YAML, bot_stack
from wegent.config import get_settings
from wegent.crypto import get_keyring
from wegent.temporal.codec import EncryptionCodec


def _wire(payloads) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def _account(client, admin_headers) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    username, password = "c" + uuid.uuid4().hex[:10], "pw-" + uuid.uuid4().hex
    made = client.post("/api/v1/admin/users", json={"username": username, "password": password}, headers=admin_headers)
    assert made.status_code == 201, made.text
    return username, password


async def test_sign_in_sets_a_codec_only_session_cookie_that_decodes_own_payloads(client, admin_headers):
    from api.main import app

    owner, owner_password = _account(client, admin_headers)
    stranger, stranger_password = _account(client, admin_headers)
    console = "{0.scheme}://{0.netloc}".format(urlsplit(get_settings().temporal_ui_url))

    # Each TestClient is a browser of its own: its cookie jar is what the console sends along with
    # "include cross-origin credentials" (the console and the API are the same site).
    with TestClient(app) as browser:
        signed_in = browser.post("/api/v1/auth/login", json={"username": owner, "password": owner_password})
        assert signed_in.status_code == 200, signed_in.text
        cookie = signed_in.headers["set-cookie"]
        assert "wegent_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Path=/api/v1/codec" in cookie  # sent to the codec only
        bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        applied = browser.post(
            "/api/v1/namespaces/default/apply", content=bot_stack("cke"), headers={**bearer, **YAML}
        ).json()
        assert applied["applied"]
        task = browser.post("/api/v1/tasks", json={"team": {"name": "cke-team"}, "prompt": "hi"}, headers=bearer)
        assert task.status_code == 201, task.text
        codec = EncryptionCodec(get_keyring()).with_context(
            WorkflowSerializationContext(get_settings().temporal_namespace, task.json()["workflowId"])
        )
        (encoded,) = await codec.encode(
            [Payload(metadata={"encoding": b"json/plain"}, data=json.dumps("mine").encode())]
        )
        body = _wire([encoded])

        decoded = browser.post("/api/v1/codec/decode", json=body, headers={"Origin": console})
        assert decoded.status_code == 200, decoded.text
        assert base64.b64decode(decoded.json()["payloads"][0]["data"]) == b'"mine"'
        assert decoded.headers["access-control-allow-origin"] == console
        assert decoded.headers["access-control-allow-credentials"] == "true"
        # The cookie opens the codec only: the rest of the API still wants a bearer token or an API key.
        session = browser.cookies["wegent_session"]
        assert client.get("/api/v1/tasks", cookies={"wegent_session": session}).status_code == 401

        assert browser.post("/api/v1/auth/logout").status_code == 204
        assert browser.post("/api/v1/codec/decode", json=body).status_code == 401
        browser.post(f"/api/v1/tasks/{task.json()['id']}/cancel", headers=bearer)

    with TestClient(app) as other:  # someone else's session decodes none of it
        assert (
            other.post("/api/v1/auth/login", json={"username": stranger, "password": stranger_password}).status_code
            == 200
        )
        refused = other.post("/api/v1/codec/decode", json=body)
        assert refused.status_code == 403, refused.text
