"""Codec endpoint for the Temporal web console: decode (and encode) Wegent's encrypted payloads.

Point the console at `<api>/api/v1/codec` (Settings → Data Encoder, "pass the user access token") to read
task payloads; only signed-in users get plaintext.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from google.protobuf import json_format
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import CurrentUser
from wegent.crypto import get_keyring
from worker.codec import EncryptionCodec

router = APIRouter(prefix="/codec", tags=["codec"])


class PayloadsBody(BaseModel):
    payloads: list[dict[str, Any]]


def _parse(body: PayloadsBody) -> list[Payload]:
    try:
        return list(json_format.ParseDict({"payloads": body.payloads}, Payloads()).payloads)
    except json_format.ParseError as exc:
        raise HTTPException(422, f"payloads: {exc}") from exc


def _dump(payloads: list[Payload]) -> dict[str, Any]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


@router.post("/decode")
async def decode(body: PayloadsBody, _: CurrentUser) -> dict[str, Any]:
    return _dump(await EncryptionCodec(get_keyring()).decode(_parse(body)))


@router.post("/encode")
async def encode(body: PayloadsBody, _: CurrentUser) -> dict[str, Any]:
    return _dump(await EncryptionCodec(get_keyring()).encode(_parse(body)))
