"""Temporal payloads are encrypted by the codec; the console's codec endpoint decodes them for signed-in users."""

from __future__ import annotations

import base64
import json

from temporalio.api.common.v1 import Payload

from wegent.crypto import get_keyring
from worker.codec import ENCODING, EncryptionCodec


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
