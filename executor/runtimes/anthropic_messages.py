"""Anthropic Messages API ``POST /v1/messages`` with ``stream: true``, yielding text deltas and usage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from executor.runtimes.model_errors import stream_failure
from executor.runtimes.model_stream import extra_body, extra_headers, post_stream
from executor.runtimes.sse import iter_sse
from wegent.events import Usage
from wegent.executor_api import ModelConfig

PROVIDER = "anthropic"
DEFAULT_VERSION = "2023-06-01"
# The Messages API requires max_tokens; this is only used when the Model resource sets none.
DEFAULT_MAX_TOKENS = 4096
# Stream ``error`` events of these types are transient on Anthropic's side.
_RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


def messages_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    if base.endswith("/v1"):
        return f"{base}/messages"
    return f"{base}/v1/messages"


def split_system(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """Anthropic takes system text as a top-level field and wants alternating user/assistant turns."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        role = "assistant" if message["role"] == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": f"{turns[-1]['content']}\n\n{message['content']}"}
        else:
            turns.append({"role": role, "content": message["content"]})
    return system, turns


def _request_body(model: ModelConfig, messages: list[dict[str, str]]) -> dict[str, Any]:
    system, turns = split_system(messages)
    body: dict[str, Any] = {
        "model": model.model,
        "max_tokens": model.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": turns,
        "stream": True,
    }
    if system:
        body["system"] = system
    if model.temperature is not None:
        body["temperature"] = model.temperature
    body.update(extra_body(model.extra))
    return body


def _input_tokens(usage: dict[str, Any]) -> int:
    # Cached prompt tokens are reported separately; count them so totals reflect what the model read.
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(int(usage.get(k) or 0) for k in keys)


async def stream_anthropic(
    client: httpx.AsyncClient, model: ModelConfig, messages: list[dict[str, str]]
) -> AsyncIterator[str | Usage]:
    url = messages_url(model.base_url)
    headers = {
        "Accept": "text/event-stream",
        "anthropic-version": str(model.extra.get("anthropic_version") or DEFAULT_VERSION),
        **extra_headers(model.extra),
    }
    if model.api_key:
        headers["x-api-key"] = model.api_key
    usage: Usage | None = None
    async with post_stream(
        client,
        provider=PROVIDER,
        url=url,
        headers=headers,
        body=_request_body(model, messages),
        api_key=model.api_key,
    ) as response:
        async for message in iter_sse(response):
            try:
                payload = json.loads(message.data)
            except ValueError as exc:
                raise stream_failure(PROVIDER, f"unparseable event {message.data[:200]!r}", model.api_key) from exc
            kind = payload.get("type", message.event)
            if kind == "message_start":
                reported = (payload.get("message") or {}).get("usage") or {}
                usage = Usage(
                    input_tokens=_input_tokens(reported),
                    output_tokens=int(reported.get("output_tokens") or 0),
                )
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield delta["text"]
            elif kind == "message_delta":
                reported = payload.get("usage") or {}
                # output_tokens here is cumulative for the whole message, so it replaces the earlier value.
                usage = Usage(
                    input_tokens=max(_input_tokens(reported), usage.input_tokens if usage else 0),
                    output_tokens=int(reported.get("output_tokens") or 0),
                )
            elif kind == "error":
                error = payload.get("error") or {}
                detail = f"{error.get('type', 'error')}: {error.get('message', message.data[:200])}"
                retryable = error.get("type") in _RETRYABLE_ERRORS
                raise stream_failure(PROVIDER, detail, model.api_key, retryable=retryable)
            elif kind == "message_stop":
                break
    if usage is not None:
        yield usage
