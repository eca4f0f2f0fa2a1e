"""Turn the official SDKs' exceptions into ``RunFailed`` with the same codes and retry verdicts as HTTP failures.

The SDKs are built with ``max_retries=0``: a retry is the workflow's decision (the activity retry re-attaches to
the same run), and every attempt stays visible in the task's history instead of hiding inside one step.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import httpx

from executor.runtimes.base import RunFailed
from executor.runtimes.model_errors import provider_message, redact, status_failure, stream_failure, transport_failure
from wegent.http import tls_context


def preload_model_sdks() -> None:
    """Import the SDKs ahead of a run: about a second of CPU on these machines, which a new task's first token
    paid inside its first model call. Only sandboxes that wait for a task anyway (the warm pool, the local
    backend's zygote, whose children share the pages) spend it early."""
    import anthropic  # noqa: F401
    import openai  # noqa: F401

    # Both load more on their first request (httpx's transport and connection pool, the SDKs' resource modules
    # and request models): one refused request each walks those paths now. The first real call cost about 12 ms
    # more than the next without it, on every new task's first token.
    refusing = _refusing_port()
    try:
        asyncio.run(_first_requests(refusing.getsockname()[1]))
    finally:
        refusing.close()


def _refusing_port() -> socket.socket:
    """A loopback port that refuses connections for certain: bound by us and never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _first_requests(port: int) -> None:
    import anthropic
    import openai

    question: list[Any] = [{"role": "user", "content": "-"}]
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
            await openai_client.chat.completions.create(model="-", messages=question, stream=True)
        with contextlib.suppress(Exception):
            await anthropic_client.messages.create(model="-", max_tokens=1, messages=question, stream=True)


def anthropic_http_client() -> Any:
    """The Anthropic SDK's own HTTP stack (it does not take an httpx client), on the process's shared TLS context:
    built per run otherwise, it read the CA bundle again each time."""
    import anthropic

    return anthropic.DefaultAsyncHttpxClient(verify=tls_context())


def _body_of(exc: Any) -> bytes:
    with contextlib.suppress(Exception):
        return bytes(exc.response.content)
    return str(getattr(exc, "message", "") or "").encode()


@contextlib.contextmanager
def sdk_failures(
    provider: str, url: str, api_key: str, retryable_stream_errors: frozenset[str] = frozenset()
) -> Iterator[None]:
    """Map what an SDK raises while connecting or streaming; ``RunFailed`` from inside passes through."""
    # Imported here, not at module level, and only the provider's own: each SDK costs tens of MB and up to a
    # second of CPU to import, which an executor whose runs never call it (or a cold sandbox with a small memory
    # limit) should not pay.
    if provider == "anthropic":
        import anthropic as sdk
    else:
        import openai as sdk  # type: ignore[no-redef]

    timeouts = sdk.APITimeoutError
    connection_errors = sdk.APIConnectionError
    status_errors = sdk.APIStatusError
    stream_errors = sdk.APIError
    try:
        yield
    except RunFailed:
        raise
    except timeouts as exc:
        raise transport_failure(provider, httpx.ReadTimeout(str(exc) or "timed out"), url) from exc
    except connection_errors as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, httpx.TransportError) else None
        raise transport_failure(provider, cause or httpx.ConnectError(str(exc)), url) from exc
    except status_errors as exc:
        if exc.status_code >= 400:
            raise status_failure(provider, exc.status_code, _body_of(exc), url, api_key) from exc
        # An ``error`` event inside a stream that started with 200: the provider broke mid-answer.
        raise _stream_error(provider, exc, api_key, retryable_stream_errors) from exc
    except stream_errors as exc:
        raise _stream_error(provider, exc, api_key, retryable_stream_errors) from exc


def _stream_error(provider: str, exc: Any, api_key: str, retryable_types: frozenset[str]) -> RunFailed:
    body = exc.body if isinstance(getattr(exc, "body", None), dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    kind = str(error.get("type") or "") if isinstance(error, dict) else ""
    detail = str(error.get("message") or "") if isinstance(error, dict) else ""
    detail = detail or provider_message(str(getattr(exc, "message", "") or "").encode()) or "no error message"
    detail = f"{kind}: {detail}" if kind else detail
    retryable = kind in retryable_types if retryable_types else True
    return stream_failure(provider, redact(detail, api_key), api_key, retryable=retryable)
