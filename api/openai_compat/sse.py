"""OpenAI's wire shapes for a Wegent turn: chat completions (objects and `data:` chunks ending in `[DONE]`)
and responses (objects and typed `event:` streams), with usage in each API's own field names."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from api.openai_compat.turns import ApiError, Turn, TurnResult, failure

_RESPONSE_ID = re.compile(r"^resp_(\d+)_(\d+)$")


def _data(payload: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n"


# ---- chat completions -------------------------------------------------------------------------------


def completion_id(turn: Turn) -> str:
    return f"chatcmpl-{turn.task.id}-{turn.task.turn}"


def chat_usage(result: TurnResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.input_tokens,
        "completion_tokens": result.output_tokens,
        "total_tokens": result.input_tokens + result.output_tokens,
    }


def chat_completion(turn: Turn, result: TurnResult) -> dict[str, Any]:
    return {
        "id": completion_id(turn),
        "created": int(time.time()),
        "model": turn.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text}, "finish_reason": "stop"}],
        "usage": chat_usage(result),
    }


async def chat_stream(turn: Turn, items: AsyncIterator[str | TurnResult], include_usage: bool) -> AsyncIterator[str]:
    base = {
        "id": completion_id(turn),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": turn.model,
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _data({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

    yield chunk({"role": "assistant", "content": ""})
    async for item in items:
        if isinstance(item, str):
            yield chunk({"content": item})
            continue
        error = failure(item, turn.task.id)
        if error is not None:
            # After the headers went out the status cannot change: OpenAI's clients raise on an error chunk.
            yield _data(error.body())
            return
        yield chunk({}, "stop")
        if include_usage:
            yield _data({**base, "choices": [], "usage": chat_usage(item)})
    yield "data: [DONE]\n\n"


# ---- responses --------------------------------------------------------------------------------------


def response_id(turn: Turn) -> str:
    return f"resp_{turn.task.id}_{turn.task.turn}"


def task_of_response_id(value: str) -> int:
    match = _RESPONSE_ID.match(value)
    if match is None:
        message = "previous_response_id must be an id this API returned (resp_<task>_<turn>)"
        raise ApiError(400, message, "previous_response_id", "invalid_value")
    return int(match.group(1))


@dataclass
class ResponseContext:
    turn: Turn
    previous_response_id: str | None
    instructions: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def message_id(self) -> str:
        return f"msg_{self.turn.task.id}_{self.turn.task.turn}"


def _message(context: ResponseContext, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status != "in_progress" else []
    return {"type": "message", "id": context.message_id, "status": status, "role": "assistant", "content": content}


def response_body(
    context: ResponseContext, status: str, text: str, result: TurnResult | None, error: ApiError | None = None
) -> dict[str, Any]:
    usage = None
    if result is not None:
        usage = {
            "input_tokens": result.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": result.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": result.input_tokens + result.output_tokens,
        }
    output = [] if status == "in_progress" else [_message(context, text, "completed" if not error else "incomplete")]
    return {
        "id": response_id(context.turn),
        "object": "response",
        "created_at": context.created_at,
        "status": status,
        "model": context.turn.model,
        "output": output,
        "usage": usage,
        "error": {"code": error.code or "server_error", "message": error.message} if error else None,
        "incomplete_details": None,
        "instructions": context.instructions,
        "metadata": context.metadata,
        "previous_response_id": context.previous_response_id,
        "parallel_tool_calls": False,
        "tool_choice": "none",
        "tools": [],
        "temperature": None,
        "top_p": None,
        "text": {"format": {"type": "text"}},
    }


async def response_stream(context: ResponseContext, items: AsyncIterator[str | TurnResult]) -> AsyncIterator[str]:
    sequence = 0

    def event(kind: str, **fields: Any) -> str:
        nonlocal sequence
        sequence += 1
        return _data({"type": kind, "sequence_number": sequence, **fields}, kind)

    item_id = context.message_id
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    yield event("response.created", response=response_body(context, "in_progress", "", None))
    yield event("response.in_progress", response=response_body(context, "in_progress", "", None))
    yield event("response.output_item.added", output_index=0, item=_message(context, "", "in_progress"))
    yield event("response.content_part.added", **where, part={"type": "output_text", "text": "", "annotations": []})
    text = ""
    async for item in items:
        if isinstance(item, str):
            text += item
            yield event("response.output_text.delta", **where, delta=item, logprobs=[])
            continue
        error = failure(item, context.turn.task.id)
        if error is not None:
            yield event("response.failed", response=response_body(context, "failed", text, item, error))
            return
        part = {"type": "output_text", "text": item.text, "annotations": []}
        yield event("response.output_text.done", **where, text=item.text, logprobs=[])
        yield event("response.content_part.done", **where, part=part)
        yield event("response.output_item.done", output_index=0, item=_message(context, item.text, "completed"))
        yield event("response.completed", response=response_body(context, "completed", item.text, item))
