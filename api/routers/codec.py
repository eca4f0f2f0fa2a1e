"""Codec endpoint for the Temporal web console: decode (and encode) Wegent's encrypted payloads.

Point the console at `<api>/api/v1/codec/` (`wegent up` presets it) and turn on "include cross-origin
credentials": the session cookie set when signing in to the web app authenticates the console's calls (a bearer
token or API key works too). Admins (the operators who use the console) get every payload's plaintext; other users only
those of their own tasks and schedules: each payload names its workflow, under authenticated encryption,
and the workflow's owner is looked up here. Payloads without a known owner (older ones) are for admins.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import ConsoleUser
from core.db.models import Resource, Task
from core.db.session import get_sessionmaker
from wegent.crypto import DecryptionError, get_keyring
from wegent.temporal.codec import ENCODING, EncryptionCodec, payload_workflow

router = APIRouter(prefix="/codec", tags=["codec"])

# Schedule workflows and the runs Temporal starts for them: schedule-{resource id}[-run-{time}].
_SCHEDULE_WORKFLOW = re.compile(r"^schedule-(\d+)(?:-run.*)?$")


class PayloadsBody(BaseModel):
    payloads: list[dict[str, Any]]


def _parse(body: PayloadsBody) -> list[Payload]:
    try:
        return list(json_format.ParseDict({"payloads": body.payloads}, Payloads()).payloads)
    except json_format.ParseError as exc:
        raise HTTPException(422, f"payloads: {exc}") from exc


def _dump(payloads: list[Payload]) -> dict[str, Any]:
    # Built per payload: an empty Payloads message serialises to `{}`, without the `payloads` key.
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def workflow_owners(workflow_ids: set[str]) -> dict[str, int]:
    """Owner user id of each task or schedule workflow that exists; others are left out."""
    owners: dict[str, int] = {}
    schedules = {wid: int(m.group(1)) for wid in workflow_ids if (m := _SCHEDULE_WORKFLOW.match(wid))}
    with get_sessionmaker()() as db:
        tasks = [wid for wid in workflow_ids if wid not in schedules]
        if tasks:
            owners.update(db.execute(select(Task.workflow_id, Task.owner_id).where(Task.workflow_id.in_(tasks))).all())
        if schedules:
            rows = db.execute(select(Resource.id, Resource.owner_id).where(Resource.id.in_(set(schedules.values()))))
            by_id = dict(rows.all())
            owners.update({wid: by_id[rid] for wid, rid in schedules.items() if rid in by_id})
    return owners


async def _check_owner(payloads: list[Payload], user: ConsoleUser) -> None:
    if user.is_admin:
        return
    claimed = {i: payload_workflow(p) for i, p in enumerate(payloads) if p.metadata.get("encoding") == ENCODING}
    known = {wid for wid in claimed.values() if wid}
    owners = await run_in_threadpool(workflow_owners, known) if known else {}
    for index, wid in claimed.items():
        if not wid or owners.get(wid) != user.id:
            # The same answer for someone else's payload and one whose owner is unknown.
            raise HTTPException(403, f"payloads[{index}]: only its owner or an admin may decode this payload")


@router.post("/decode", response_model=PayloadsBody)
async def decode(body: PayloadsBody, user: ConsoleUser) -> dict[str, Any]:
    payloads = _parse(body)
    await _check_owner(payloads, user)
    try:
        return _dump(await EncryptionCodec(get_keyring()).decode(payloads))
    except (DecryptionError, KeyError, DecodeError) as exc:
        raise HTTPException(422, "payloads: cannot be decrypted with this deployment's keys") from exc


@router.post("/encode", response_model=PayloadsBody)
async def encode(body: PayloadsBody, _: ConsoleUser) -> dict[str, Any]:
    return _dump(await EncryptionCodec(get_keyring()).encode(_parse(body)))
