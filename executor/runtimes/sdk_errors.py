"""Turn the official SDKs' exceptions into ``RunFailed`` with the same codes and retry verdicts as HTTP failures.

The SDKs are built with ``max_retries=0``: a retry is the workflow's decision (the activity retry re-attaches to
the same run), and every attempt stays visible in the task's history instead of hiding inside one step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from executor.runtimes.base import RunFailed
from executor.runtimes.model_errors import provider_message, redact, status_failure, stream_failure, transport_failure
from wegent.http import tls_context


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
