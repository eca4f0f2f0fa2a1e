"""Pay the model SDKs' first-use costs before a task's first token: in the zygote and in warm sandboxes.

A sandbox that waits for its task (the local backend's zygote, whose forked children share its pages, and the
warm pool) spends this early; a new task's first model call paid it otherwise. Nothing here reaches the network:
the requests go to a loopback port that refuses them, and the answers come from an in-process transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
from typing import Any

import httpx

from executor.runtimes.sdk_errors import anthropic_http_client
from wegent.http import tls_context

# One streamed answer per SDK, in each provider's wire format. Parsing them builds the SDKs' chunk and event
# models, which they build lazily on first use: about 5 ms of a new executor's CPU, on its first token's path.
_OPENAI_ANSWER = (
    b'data: {"id":"p","object":"chat.completion.chunk","created":0,"model":"-",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"-"},"finish_reason":null}]}\n\n'
    b'data: {"id":"p","object":"chat.completion.chunk","created":0,"model":"-",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"p","object":"chat.completion.chunk","created":0,"model":"-","choices":[],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)
_ANTHROPIC_ANSWER = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"p","type":"message",'
    b'"role":"assistant","model":"-","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"-"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"output_tokens":1}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
_QUESTION: list[Any] = [{"role": "user", "content": "-"}]


_preloaded = False  # set in the zygote, whose forked executors inherit it: their priming does not repeat it


def preload_model_sdks() -> None:
    """Import the SDKs (about a second of CPU on these machines), then walk a request and an answer with each."""
    global _preloaded
    if _preloaded:
        return
    import anthropic  # noqa: F401
    import openai  # noqa: F401

    # Their first request loads more (httpx's transport and connection pool, the SDKs' resource modules and
    # request models): one refused request each walks those paths. The first real call cost about 12 ms more
    # than the next without it.
    refusing = _refusing_port()
    try:
        asyncio.run(_first_requests(refusing.getsockname()[1]))
    finally:
        refusing.close()
    asyncio.run(_first_answers())
    _preloaded = True


def _refusing_port() -> socket.socket:
    """A loopback port that refuses connections for certain: bound by us and never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _first_requests(port: int) -> None:
    import anthropic
    import openai

    openai_client = openai.AsyncOpenAI(
        api_key="-",
        base_url=f"http://127.0.0.1:{port}/v1",
        http_client=httpx.AsyncClient(verify=tls_context()),
        max_retries=0,
    )
    anthropic_client = anthropic.AsyncAnthropic(
        api_key="-", base_url=f"http://127.0.0.1:{port}", http_client=anthropic_http_client(), max_retries=0
    )
    async with openai_client, anthropic_client:
        with contextlib.suppress(Exception):
            await openai_client.chat.completions.create(model="-", messages=_QUESTION, stream=True)
        with contextlib.suppress(Exception):
            await anthropic_client.messages.create(model="-", max_tokens=1, messages=_QUESTION, stream=True)


def _answering(sdk_client: type, body: bytes) -> Any:
    """An SDK's own HTTP client class (``DefaultAsyncHttpxClient``: httpx for openai, httpx2 for anthropic) whose
    every request gets ``body`` as a server-sent event stream, without leaving the process."""
    http = importlib.import_module(sdk_client.__mro__[1].__module__.partition(".")[0])

    def answer(_: Any) -> Any:
        return http.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return sdk_client(transport=http.MockTransport(answer))


async def _first_answers() -> tuple[int, int]:
    """How many chunks (openai) and events (anthropic) the SDKs parsed: all of them, unless an SDK changed."""
    import anthropic
    import openai

    openai_client = openai.AsyncOpenAI(
        api_key="-",
        base_url="http://preload/v1",
        http_client=_answering(openai.DefaultAsyncHttpxClient, _OPENAI_ANSWER),
        max_retries=0,
    )
    anthropic_client = anthropic.AsyncAnthropic(
        api_key="-",
        base_url="http://preload",
        http_client=_answering(anthropic.DefaultAsyncHttpxClient, _ANTHROPIC_ANSWER),
        max_retries=0,
    )
    parsed = [0, 0]
    async with openai_client, anthropic_client:
        # Consumed as the runtimes consume them (executor/runtimes/openai_chat.py, anthropic_messages.py).
        with contextlib.suppress(Exception):
            chunks = await openai_client.chat.completions.create(
                model="-", messages=_QUESTION, stream=True, stream_options={"include_usage": True}
            )
            async with chunks:
                async for _ in chunks:
                    parsed[0] += 1
        with contextlib.suppress(Exception):
            events = await anthropic_client.messages.create(model="-", max_tokens=1, messages=_QUESTION, stream=True)
            async with events:
                async for _ in events:
                    parsed[1] += 1
    return parsed[0], parsed[1]
