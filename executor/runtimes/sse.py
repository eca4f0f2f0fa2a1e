"""Minimal Server-Sent Events reader over an httpx streaming response (the part of the spec LLM APIs use)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple

import httpx


class SseMessage(NamedTuple):
    event: str  # "message" when the server sent no ``event:`` field, as the spec says
    data: str


async def iter_sse(response: httpx.Response) -> AsyncIterator[SseMessage]:
    event = ""
    data_lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data_lines:
                yield SseMessage(event or "message", "\n".join(data_lines))
            event, data_lines = "", []
            continue
        if line.startswith(":"):  # comment / keep-alive
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data_lines.append(value)
    # Some OpenAI-compatible servers omit the blank line after the last message.
    if data_lines:
        yield SseMessage(event or "message", "\n".join(data_lines))
