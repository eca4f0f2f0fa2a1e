"""Anthropic's Messages API, streamed through the official ``anthropic`` SDK: text deltas and usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog

from executor.runtimes.model_stream import extra_body, extra_headers
from executor.runtimes.sdk_errors import anthropic_http_client, sdk_failures
from wegent.events import Usage
from wegent.executor_api import ModelConfig

log = structlog.get_logger(__name__)

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


def api_root(base_url: str) -> str:
    """What the SDK calls ``base_url``: it appends ``/v1/messages`` itself."""
    return messages_url(base_url).removesuffix("/v1/messages")


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


def _input_tokens(usage: dict[str, Any]) -> int:
    # Cached prompt tokens are reported separately; count them so totals reflect what the model read.
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(int(usage.get(k) or 0) for k in keys)


def _endpoint(url: str) -> str:
    # Host+path only: query strings may carry keys on some gateways; prompts are never logged.
    parsed = httpx.URL(url)
    return f"{parsed.netloc.decode()}{parsed.path}"


def _options(model: ModelConfig, system: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if system:
        options["system"] = system
    if model.temperature is not None:
        options["temperature"] = model.temperature
    return options


async def stream_anthropic(
    http: httpx.AsyncClient, model: ModelConfig, messages: list[dict[str, str]]
) -> AsyncIterator[str | Usage]:
    from anthropic import AsyncAnthropic, Timeout  # lazily: see sdk_errors.sdk_failures

    url = messages_url(model.base_url)
    headers = {"anthropic-version": str(model.extra.get("anthropic_version") or DEFAULT_VERSION)}
    limits = http.timeout
    # The SDK brings its own HTTP stack; a client per run, closed when the run ends or is cancelled.
    client = AsyncAnthropic(
        base_url=api_root(model.base_url),
        api_key=model.api_key or "not-needed",
        http_client=anthropic_http_client(),
        timeout=Timeout(connect=limits.connect, read=limits.read, write=limits.write, pool=limits.pool),
        max_retries=0,
    )
    endpoint = httpx.URL(url)
    log.info(
        "model_request", provider=PROVIDER, model=model.model, endpoint=f"{endpoint.netloc.decode()}{endpoint.path}"
    )
    system, turns = split_system(messages)
    usage: Usage | None = None
    async with client:
        with sdk_failures(PROVIDER, url, model.api_key, _RETRYABLE_ERRORS):
            stream = await client.messages.create(
                model=model.model,
                max_tokens=model.max_tokens or DEFAULT_MAX_TOKENS,
                messages=turns,  # type: ignore[arg-type]
                stream=True,
                extra_headers={**headers, **extra_headers(model.extra)},
                extra_body=extra_body(model.extra),
                **_options(model, system),
            )
            async with stream:  # leaving it (done, error or cancel) closes the model connection
                async for event in stream:
                    if event.type == "message_start":
                        reported = event.message.usage.model_dump()
                        usage = Usage(
                            input_tokens=_input_tokens(reported), output_tokens=int(reported.get("output_tokens") or 0)
                        )
                    elif event.type == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield event.delta.text
                    elif event.type == "message_delta":
                        reported = event.usage.model_dump()
                        # output_tokens here is cumulative for the whole message, so it replaces the earlier value.
                        usage = Usage(
                            input_tokens=max(_input_tokens(reported), usage.input_tokens if usage else 0),
                            output_tokens=int(reported.get("output_tokens") or 0),
                        )
                    elif event.type == "message_stop":
                        break
    if usage is not None:
        yield usage
