"""The API's backlog merge: only adjacent, contiguous chunks of one message, run and room join; order holds."""

from __future__ import annotations

from typing import Any

from api.realtime.fanout import merge_backlog


def _emit(event: str, payload: dict[str, Any], room: str = "task:1") -> dict[str, Any]:
    return {"method": "emit", "event": event, "data": [payload], "namespace": "/chat", "room": room}


def _chunk(first: int, last: int, text: str, run: str = "r1", room: str = "task:1") -> dict[str, Any]:
    payload = {"message_id": 7, "run_id": run, "from_offset": first, "offset": last, "content": text}
    return _emit("chat:chunk", {**payload, "entry": f"{first}-0"}, room)


def test_contiguous_chunks_join_into_one_covering_the_whole_range() -> None:
    merged = merge_backlog([_chunk(2, 2, "a"), _chunk(3, 5, "bcd"), _chunk(6, 6, "e")])
    assert len(merged) == 1
    payload = merged[0]["data"][0]
    assert (payload["from_offset"], payload["offset"], payload["content"]) == (2, 6, "abcde")
    assert payload["entry"] == "2-0"  # the oldest part's log entry: when its text was produced


def test_a_tool_event_a_gap_a_new_run_or_another_room_stops_the_merge_and_keeps_the_order() -> None:
    tool = _emit("chat:tool", {"message_id": 7, "run_id": "r1", "offset": 4, "kind": "tool_call"})
    backlog = [
        _chunk(2, 3, "ab"),
        tool,
        _chunk(5, 5, "c"),
        _chunk(7, 7, "e"),  # a gap: offset 6 is not here
        _chunk(8, 8, "f", run="r2"),
        _chunk(9, 9, "g", run="r2", room="task:2"),
    ]
    merged = merge_backlog(backlog)
    assert merged == backlog
