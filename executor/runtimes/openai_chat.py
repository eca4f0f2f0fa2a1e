"""OpenAI-compatible ``POST /chat/completions`` with ``stream: true``, yielding text deltas and usage."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from executor.runtimes.model_errors import stream_failure
from executor.runtimes.model_stream import extra_body, extra_headers, post_stream
from executor.runtimes.sse import iter_sse
from wegent.events import Usage
from wegent.executor_api import ModelConfig

PROVIDER = "openai"
# A version segment (/v1, /v1beta/openai, /api/v3) means the caller already gave the API root.
_VERSIONED_PATH = re.compile(r"/v\d+[a-z0-9]*(/|$)")


def chat_completions_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    path = httpx.URL(base).path
    if _VERSIONED_PATH.search(path):
        return f"{base}/chat/completions"
    return f"{base}/v1/chat/completions"


def _request_body(model: ModelConfig, messages: list[dict[str, str]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if model.temperature is not None:
        body["temperature"] = model.temperature
    if model.max_tokens is not None:
        body["max_tokens"] = model.max_tokens
    body.update(extra_body(model.extra))
    return body


def _usage(payload: Any) -> Usage | None:
    if not isinstance(payload, dict):
        return None
    return Usage(
        input_tokens=int(payload.get("prompt_tokens") or 0),
        output_tokens=int(payload.get("completion_tokens") or 0),
    )


def _delta_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    delta = choices[0].get("delta") or choices[0].get("message") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else ""


async def stream_openai(
    client: httpx.AsyncClient, model: ModelConfig, messages: list[dict[str, str]]
) -> AsyncIterator[str | Usage]:
    url = chat_completions_url(model.base_url)
    headers = {"Accept": "text/event-stream", **extra_headers(model.extra)}
    if model.api_key:
        headers["Authorization"] = f"Bearer {model.api_key}"
    body = _request_body(model, messages)
    async with post_stream(
        client, provider=PROVIDER, url=url, headers=headers, body=body, api_key=model.api_key
    ) as response:
        if response.headers.get("content-type", "").startswith("application/json"):
            # Some compatible servers ignore ``stream`` and answer in one JSON document.
            completion = json.loads(await response.aread())
            text = _delta_text(completion)
            if text:
                yield text
            usage = _usage(completion.get("usage"))
            if usage is not None:
                yield usage
            return
        async for message in iter_sse(response):
            if message.data.strip() == "[DONE]":
                return
            try:
                chunk = json.loads(message.data)
            except ValueError as exc:
                raise stream_failure(PROVIDER, f"unparseable chunk {message.data[:200]!r}", model.api_key) from exc
            if chunk.get("error"):
                error = chunk["error"]
                detail = error.get("message", str(error)) if isinstance(error, dict) else str(error)
                raise stream_failure(PROVIDER, detail, model.api_key)
            text = _delta_text(chunk)
            if text:
                yield text
            usage = _usage(chunk.get("usage"))
            if usage is not None:
                yield usage
