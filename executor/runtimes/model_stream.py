"""Open a streaming POST to a model provider, converting every HTTP / network failure into ``RunFailed``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from executor.runtimes.model_errors import status_failure, transport_failure

log = structlog.get_logger(__name__)


@asynccontextmanager
async def post_stream(
    client: httpx.AsyncClient,
    *,
    provider: str,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    api_key: str,
) -> AsyncIterator[httpx.Response]:
    """Yield the 2xx response; leaving the block (normally, by error or by cancellation) closes the stream.

    Network errors raised while the caller reads the body pass back through here, so they get the same
    retryable classification as errors while connecting.
    """
    # Log host+path only: query strings may carry keys on some gateways; prompts are never logged.
    parts = urlsplit(url)
    log.info("model_request", provider=provider, model=body.get("model"), endpoint=f"{parts.netloc}{parts.path}")
    try:
        async with client.stream("POST", url, headers=headers, json=body) as response:
            if response.status_code >= 400:
                raw = await response.aread()
                failure = status_failure(provider, response.status_code, raw, url, api_key)
                log.warning("model_request_failed", status=response.status_code, code=failure.code)
                raise failure
            yield response
    except httpx.TransportError as exc:
        log.warning("model_transport_error", error=type(exc).__name__)
        raise transport_failure(provider, exc, url) from exc


def extra_headers(extra: dict[str, Any]) -> dict[str, str]:
    """Gateways often need custom headers: ``ModelConfig.extra["headers"]`` (or ``custom_headers``)."""
    headers = extra.get("headers") or extra.get("custom_headers") or {}
    return {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}


def extra_body(extra: dict[str, Any]) -> dict[str, Any]:
    """Provider-specific request fields (e.g. ``top_p``) travel in ``ModelConfig.extra["body"]``."""
    body = extra.get("body") or {}
    return dict(body) if isinstance(body, dict) else {}
