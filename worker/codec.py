"""Payload encryption for everything Wegent stores in Temporal (inputs, results, heartbeats, updates).

AES-256-GCM under the keyring of `WEGENT_ENCRYPTION_KEYS`; the key id travels in the payload metadata so keys
can rotate. Payloads written before encryption was enabled still decode (they pass through).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from wegent.crypto import Keyring

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            key_id, blob = self.keyring.encrypt_bytes(payload.SerializeToString())
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=blob))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata[KEY_ID].decode()
            decoded = Payload()
            decoded.ParseFromString(self.keyring.decrypt_bytes(key_id, payload.data))
            out.append(decoded)
        return out


def data_converter(keyring: Keyring) -> DataConverter:
    return dataclasses.replace(DataConverter.default, payload_codec=EncryptionCodec(keyring))
