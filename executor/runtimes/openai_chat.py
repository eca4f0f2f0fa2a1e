"""OpenAI-compatible chat completions, streamed through the official ``openai`` SDK: text deltas and usage."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog

from executor.runtimes.model_stream import extra_body, extra_headers
from executor.runtimes.sdk_errors import sdk_failures
from wegent.events import Usage
from wegent.executor_api import ModelConfig

log = structlog.get_logger(__name__)

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


def api_root(base_url: str) -> str:
    """What the SDK calls ``base_url``: the URL its paths (``/chat/completions``) are appended to."""
    return chat_completions_url(base_url).removesuffix("/chat/completions")


def _options(model: ModelConfig) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if model.temperature is not None:
        options["temperature"] = model.temperature
    if model.max_tokens is not None:
        options["max_tokens"] = model.max_tokens
    return options


def _usage(payload: Any) -> Usage | None:
    if payload is None:
        return None
    if not isinstance(payload, dict):
        payload = payload.model_dump()
    return Usage(
        input_tokens=int(payload.get("prompt_tokens") or 0),
        output_tokens=int(payload.get("completion_tokens") or 0),
    )


def _choice_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    delta = choices[0].get("delta") or choices[0].get("message") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else ""


async def stream_openai(
    http: httpx.AsyncClient, model: ModelConfig, messages: list[dict[str, str]]
) -> AsyncIterator[str | Usage]:
    from openai import AsyncOpenAI  # lazily: see sdk_errors.sdk_failures

    url = chat_completions_url(model.base_url)
    client = AsyncOpenAI(
        base_url=api_root(model.base_url),
        api_key=model.api_key or "not-needed",
        http_client=http,
        timeout=http.timeout,
        max_retries=0,
    )
    # Host+path only: query strings may carry keys on some gateways; prompts are never logged.
    endpoint = httpx.URL(url)
    log.info(
        "model_request", provider=PROVIDER, model=model.model, endpoint=f"{endpoint.netloc.decode()}{endpoint.path}"
    )
    with sdk_failures(PROVIDER, url, model.api_key):
        stream = await client.chat.completions.create(
            model=model.model,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=extra_headers(model.extra),
            extra_body=extra_body(model.extra),
            **_options(model),
        )
        async with stream:  # leaving it (done, error or cancel) closes the model connection
            if stream.response.headers.get("content-type", "").startswith("application/json"):
                # Some compatible servers ignore ``stream`` and answer in one JSON document.
                completion = json.loads(await stream.response.aread())
                text = _choice_text(completion)
                if text:
                    yield text
                usage = _usage(completion.get("usage"))
                if usage is not None:
                    yield usage
                return
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
                usage = _usage(chunk.usage)
                if usage is not None:
                    yield usage
