"""The ``Chat`` runtime: one streamed model completion, no tools.

``ModelConfig.provider`` picks the wire protocol: ``openai`` (any OpenAI-compatible server) or ``anthropic``.
``RunRequest.options["read_timeout"]`` bounds the silence between two streamed chunks (default 300 s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from executor.runtimes.anthropic_messages import stream_anthropic
from executor.runtimes.base import Emitted, RunFailed, Runtime
from executor.runtimes.conversation import conversation
from executor.runtimes.openai_chat import stream_openai
from wegent.events import EventType, Usage
from wegent.executor_api import ModelConfig, RunRequest
from wegent.http import tls_context

ProviderStream = Callable[[httpx.AsyncClient, ModelConfig, list[dict[str, str]]], AsyncIterator[str | Usage]]

PROVIDERS: dict[str, ProviderStream] = {
    "openai": stream_openai,
    "anthropic": stream_anthropic,
    "claude": stream_anthropic,
}
CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0


def read_timeout(options: dict[str, Any]) -> float:
    value = options.get("read_timeout", DEFAULT_READ_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise RunFailed(
            f"options.read_timeout must be a positive number of seconds, got {value!r}",
            code="invalid_request",
            retryable=False,
        )
    return seconds


def provider_stream(model: ModelConfig) -> ProviderStream:
    stream = PROVIDERS.get(model.provider.lower())
    if stream is None:
        known = ", ".join(sorted(PROVIDERS))
        raise RunFailed(
            f"model provider {model.provider!r} is not supported by the Chat runtime (supported: {known})",
            code="model_config",
            retryable=False,
        )
    return stream


class ChatRuntime(Runtime):
    async def run(self, request: RunRequest) -> AsyncIterator[Emitted]:
        # Chat keeps no server-side conversation state (history arrives with each request), so the session is
        # simply the caller's, or the run itself.
        self.session_id = request.session_id or request.run_id
        yield self.start_event(request)
        stream = provider_stream(request.model)
        timeout = httpx.Timeout(CONNECT_TIMEOUT, read=read_timeout(request.options))
        parts: list[str] = []
        usage: Usage | None = None
        # A client per run: on cancel its close guarantees the model connection is torn down, not pooled.
        async with httpx.AsyncClient(timeout=timeout, verify=tls_context()) as client:
            async for item in stream(client, request.model, conversation(request)):
                if isinstance(item, Usage):
                    usage = item
                else:
                    parts.append(item)
                    yield Emitted(EventType.TEXT, {"delta": item})
        if usage is not None:
            yield Emitted(EventType.USAGE, usage.model_dump())
        yield Emitted(
            EventType.DONE,
            {
                "output": "".join(parts),
                "usage": (usage or Usage()).model_dump(),
                "session_id": self.session_id,
            },
        )
