"""The live chat protocol's payload models: the wire shapes they keep and the errors a bad request gets."""

from __future__ import annotations

from typing import Any

import pytest

from wegent.realtime import ClientEvent, ServerEvent
from wegent.realtime_payloads import (
    CLIENT_REQUESTS,
    SERVER_PAYLOADS,
    ChatChunk,
    ChatResumeRequest,
    ChatSendRequest,
    ErrorAck,
    RequestInvalid,
    TaskCreated,
    TaskJoinAck,
    TaskRequest,
    TaskStatus,
    parse_request,
)


def test_every_event_has_its_payload_and_every_request_its_model() -> None:
    assert set(SERVER_PAYLOADS) == set(ServerEvent)
    assert set(CLIENT_REQUESTS) == set(ClientEvent)
    assert all(model.event == event for event, model in SERVER_PAYLOADS.items())


def test_unset_fields_stay_off_the_wire() -> None:
    # A step starting carries no `error` key; a state change carries it even when it is null.
    assert TaskStatus(task_id=1, state="RUNNING", turn=2, step=0, bot="b").wire() == {
        "task_id": 1,
        "state": "RUNNING",
        "turn": 2,
        "step": 0,
        "bot": "b",
    }
    assert TaskStatus(task_id=1, state="COMPLETED", turn=2, error=None).wire()["error"] is None
    chunk = ChatChunk(
        task_id=1, message_id=2, turn=1, step=0, bot="b", attempt=1, run_id="r", offset=9, from_offset=7, content="x"
    )
    assert "entry" not in chunk.wire() and chunk.wire()["from_offset"] == 7


def test_acks_always_say_ok_and_name_a_field_only_when_there_is_one() -> None:
    assert ErrorAck(error="no", status=404).wire() == {"ok": False, "error": "no", "status": 404}
    assert ErrorAck(error="no", status=422, field="task_id").wire()["field"] == "task_id"
    joined = TaskJoinAck(task={"id": 1}, live=[], offset=None, streaming=True).wire()
    assert joined == {"ok": True, "task": {"id": 1}, "live": [], "offset": None, "streaming": True}


def test_task_created_is_the_task_as_the_api_shows_it() -> None:
    summary = {"id": 3, "title": "t", "usage": {"inputTokens": 1}}
    assert TaskCreated.model_validate(summary).wire() == summary


@pytest.mark.parametrize(
    ("model", "data", "field", "message"),
    [
        (TaskRequest, None, None, "payload must be an object"),
        (TaskRequest, {}, "task_id", "task_id is required"),
        (TaskRequest, {"task_id": 0}, "task_id", "task_id must be a positive integer"),
        (TaskRequest, {"task_id": True}, "task_id", "task_id must be a positive integer"),
        (ChatResumeRequest, {"task_id": 1, "message_id": "7"}, "message_id", "message_id must be an integer"),
        (ChatResumeRequest, {"task_id": 1, "message_id": 7, "offset": -1}, "offset", "offset must be a non-negative"),
        (ChatSendRequest, {"task_id": 1, "action": "maybe"}, "action", "action must be"),
        (ChatSendRequest, {"action": "approve"}, "task_id", "task_id must be a positive integer"),
        (ChatSendRequest, {"message": " "}, "message", "message must be a non-empty string"),
        (ChatSendRequest, {"message": "hi"}, "team", "team (name or {name, namespace}) is required"),
        (ChatSendRequest, {"message": "hi", "team": "t", "title": 5}, "title", "title: "),
    ],
)
def test_a_bad_request_names_its_field(model: Any, data: Any, field: str | None, message: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        parse_request(model, data)
    assert refused.value.field == field
    assert refused.value.message.startswith(message)


def test_good_requests_parse() -> None:
    assert parse_request(TaskRequest, {"task_id": "12", "extra": 1}).task_id == 12
    assert parse_request(ChatResumeRequest, {"task_id": 1, "message_id": 4}).offset == 0
    new = parse_request(ChatSendRequest, {"team": "writers", "message": "hi"})
    assert new.team is not None and (new.team.name, new.team.namespace) == ("writers", "default")
    decision = parse_request(ChatSendRequest, {"task_id": 2, "action": "reject", "message": "no"})
    assert decision.action == "reject" and decision.message == "no"
