"""Payload encryption for everything Wegent stores in Temporal (inputs, results, heartbeats, updates, failures).

AES-256-GCM; the key id travels in the payload metadata so keys can rotate. Two formats decode:

- v2 (written now): under a subkey of each ``WEGENT_ENCRYPTION_KEYS`` key derived for Temporal payloads
  only, so a payload can never be replayed as a stored secret (or the reverse). The payload names the
  workflow it belongs to (``wegent-workflow``), and that name is the associated data: it cannot be swapped
  for another without failing authentication. The console codec uses it to decode for the owner only.
- v1 (older histories): the keyring's keys directly, no associated data.

Payloads written before encryption was enabled still decode (they pass through). Failure messages and stack
traces are moved into an encoded payload too (``encode_common_attributes``): error text can quote prompts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from wegent.crypto import Keyring

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
VERSION = "wegent-codec"  # absent: v1
WORKFLOW = "wegent-workflow"  # v2: the workflow the payload belongs to ("" when not known)
_PAYLOAD_KEY_LABEL = b"wegent/temporal-payload-key/v1"


def payload_keyring(keyring: Keyring) -> Keyring:
    """The same key ids, each key replaced by a subkey for Temporal payloads only."""
    keys = {kid: hmac.new(key, _PAYLOAD_KEY_LABEL, hashlib.sha256).digest() for kid, key in keyring.keys.items()}
    return Keyring(keys=keys, current_id=keyring.current_id)


def _aad(workflow_id: str) -> bytes:
    return b"wegent-payload:v2:" + workflow_id.encode()


def payload_workflow(payload: Payload) -> str | None:
    """The workflow an encrypted v2 payload says it belongs to ('' = unknown); None for other payloads."""
    if payload.metadata.get("encoding") != ENCODING or payload.metadata.get(VERSION) != b"2":
        return None
    return payload.metadata.get(WORKFLOW, b"").decode()


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keyring: Keyring, workflow_id: str = "", payload_keys: Keyring | None = None) -> None:
        self.keyring = keyring
        self.workflow_id = workflow_id
        self.payload_keys = payload_keys or payload_keyring(keyring)

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        workflow_id = ""
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id or ""
        return EncryptionCodec(self.keyring, workflow_id, self.payload_keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            key_id, blob = self.payload_keys.encrypt_bytes(payload.SerializeToString(), _aad(self.workflow_id))
            metadata = {
                "encoding": ENCODING,
                KEY_ID: key_id.encode(),
                VERSION: b"2",
                WORKFLOW: self.workflow_id.encode(),
            }
            out.append(Payload(metadata=metadata, data=blob))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata[KEY_ID].decode()
            workflow_id = payload_workflow(payload)
            if workflow_id is None:  # v1
                plain = self.keyring.decrypt_bytes(key_id, payload.data)
            else:
                plain = self.payload_keys.decrypt_bytes(key_id, payload.data, _aad(workflow_id))
            decoded = Payload()
            decoded.ParseFromString(plain)
            out.append(decoded)
        return out


def data_converter(keyring: Keyring) -> DataConverter:
    return dataclasses.replace(
        DataConverter.default,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
