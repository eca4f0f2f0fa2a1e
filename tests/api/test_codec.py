"""Temporal payloads are encrypted by the codec; the console's codec endpoint decodes them for signed-in users."""

from __future__ import annotations

import base64
import json

from temporalio.api.common.v1 import Payload

from wegent.crypto import get_keyring
from wegent.temporal.codec import ENCODING, EncryptionCodec


async def test_codec_round_trip_hides_the_plaintext():
    codec = EncryptionCodec(get_keyring())
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"prompt": "secret plans"}')
    (encoded,) = await codec.encode([plain])
    assert encoded.metadata["encoding"] == ENCODING
    assert b"secret plans" not in encoded.SerializeToString()
    assert (await codec.decode([encoded]))[0] == plain
    # Payloads written before encryption pass through untouched.
    assert (await codec.decode([plain]))[0] == plain


async def test_codec_endpoint_decodes_for_users_only(client, admin_headers):
    (encoded,) = await EncryptionCodec(get_keyring()).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=json.dumps("hello").encode())]
    )
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in encoded.metadata.items()},
                "data": base64.b64encode(encoded.data).decode(),
            }
        ]
    }
    assert client.post("/api/v1/codec/decode", json=body).status_code == 401
    response = client.post("/api/v1/codec/decode", json=body, headers=admin_headers)
    assert response.status_code == 200
    decoded = response.json()["payloads"][0]
    assert base64.b64decode(decoded["data"]) == b'"hello"'
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"


# ---- issue 16, item 5: a payload is shown only to whom it belongs ---------------------------------------------


def _wire(payloads) -> dict:  # type: ignore[no-untyped-def]
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    return json_format.MessageToDict(Payloads(payloads=list(payloads)))


async def test_payloads_name_their_workflow_under_a_key_of_their_own():
    from temporalio.converter import WorkflowSerializationContext

    from wegent.crypto import DecryptionError

    keyring = get_keyring()
    codec = EncryptionCodec(keyring).with_context(WorkflowSerializationContext("ns", "task-41"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"the prompt"')
    (encoded,) = await codec.encode([plain])
    assert encoded.metadata["wegent-workflow"] == b"task-41"
    assert (await EncryptionCodec(keyring).decode([encoded]))[0] == plain
    # Claiming another workflow (to get past the owner check) breaks authentication.
    forged = Payload()
    forged.CopyFrom(encoded)
    forged.metadata["wegent-workflow"] = b"task-42"
    try:
        await EncryptionCodec(keyring).decode([forged])
        raise AssertionError("a payload re-labelled for another workflow decoded")
    except DecryptionError:
        pass
    # Not the stored-secrets key: the bare keyring cannot open a payload.
    key_id = encoded.metadata["encryption-key-id"].decode()
    for aad in (b"", b"wegent-payload:v2:task-41"):
        try:
            keyring.decrypt_bytes(key_id, encoded.data, aad)
            raise AssertionError("a payload opened under the stored-secrets key")
        except DecryptionError:
            pass
    # Payloads written before (v1: the keyring directly, no workflow) still decode, for replay.
    key_id, blob = keyring.encrypt_bytes(plain.SerializeToString())
    old = Payload(metadata={"encoding": ENCODING, "encryption-key-id": key_id.encode()}, data=blob)
    assert (await EncryptionCodec(keyring).decode([old]))[0] == plain


async def test_failure_messages_are_encrypted_too():
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    from wegent.temporal.codec import data_converter

    converter = data_converter(get_keyring())
    failure = Failure()
    await converter.encode_failure(ApplicationError("model refused: <the user's secret prompt>"), failure)
    assert b"secret prompt" not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    restored = await converter.decode_failure(failure)
    assert "<the user's secret prompt>" in str(restored)


async def test_codec_endpoint_decodes_a_tasks_history_only_for_its_owner_or_admins(client, admin_headers, make_user):
    from temporalio.client import Client

    from tests.api.stack import YAML, bot_stack
    from wegent.config import get_settings

    _, owner = make_user()
    _, other = make_user()
    assert client.post("/api/v1/namespaces/default/apply", content=bot_stack("cdc"), headers={**owner, **YAML}).json()[
        "applied"
    ]
    created = client.post(
        "/api/v1/tasks", json={"team": {"name": "cdc-team"}, "prompt": "owner-only words"}, headers=owner
    )
    assert created.status_code in (200, 201), created.text
    task_id = created.json()["id"]
    settings = get_settings()
    raw = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)  # no codec
    history = await raw.get_workflow_handle(f"task-{task_id}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = _wire(started.input.payloads)
    assert f'"task_id":{task_id}'.encode() not in started.SerializeToString()
    assert all(p["metadata"]["wegent-workflow"] for p in body["payloads"])

    for headers, status in ((owner, 200), (admin_headers, 200), (other, 403)):
        response = client.post("/api/v1/codec/decode", json=body, headers=headers)
        assert response.status_code == status, response.text
        if status == 200:
            decoded = [json.loads(base64.b64decode(p["data"])) for p in response.json()["payloads"]]
            assert decoded[0]["task_id"] == task_id
        else:
            assert "only its owner or an admin" in response.json()["detail"]
    # A payload that names no workflow (encoded by the console, or written before owners were recorded) is for
    # admins only.
    (anonymous,) = await EncryptionCodec(get_keyring()).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b"1")]
    )
    assert client.post("/api/v1/codec/decode", json=_wire([anonymous]), headers=owner).status_code == 403
    assert client.post("/api/v1/codec/decode", json=_wire([anonymous]), headers=admin_headers).status_code == 200
    client.post(f"/api/v1/tasks/{task_id}/cancel", headers=owner)


def test_an_empty_batch_is_answered_with_an_empty_batch(client, admin_headers):
    # The console sends no payloads for some views; the answer must still carry the `payloads` key.
    for action in ("encode", "decode"):
        response = client.post(f"/api/v1/codec/{action}", json={"payloads": []}, headers=admin_headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"payloads": []}
