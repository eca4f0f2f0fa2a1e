"""Turn model-provider HTTP failures into ``RunFailed`` with a clear message and the right retry verdict."""

from __future__ import annotations

import json

import httpx

from executor.runtimes.base import RunFailed

_AUTH_STATUSES = frozenset({401, 403})
_CONFIG_STATUSES = frozenset({400, 404, 422})
# 408/409 are transient by definition; 429 and 5xx are the provider asking us to come back later.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
_MAX_DETAIL = 500


def redact(text: str, secret: str) -> str:
    # Providers sometimes echo the key they rejected; it must not reach events or logs.
    return text.replace(secret, "***") if secret else text


def provider_message(body: bytes) -> str:
    """Pull the human-readable part out of OpenAI / Anthropic / generic error bodies."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:_MAX_DETAIL]
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:_MAX_DETAIL]
        for key in ("message", "detail", "error"):
            if payload.get(key):
                return str(payload[key])[:_MAX_DETAIL]
    return text[:_MAX_DETAIL]


def status_failure(provider: str, status: int, body: bytes, url: str, api_key: str) -> RunFailed:
    detail = redact(provider_message(body), api_key) or "no error message"
    message = f"{provider} model request failed with HTTP {status}: {detail} (POST {url})"
    if status in _AUTH_STATUSES:
        return RunFailed(message, code="model_auth", retryable=False)
    if status in _CONFIG_STATUSES:
        return RunFailed(message, code="model_config", retryable=False)
    if status == 429:
        return RunFailed(message, code="model_rate_limited", retryable=True)
    if status >= 500 or status in _RETRYABLE_STATUSES:
        return RunFailed(message, code="model_unavailable", retryable=True)
    return RunFailed(message, code="model_error", retryable=False)


def transport_failure(provider: str, exc: httpx.TransportError, url: str) -> RunFailed:
    if isinstance(exc, httpx.TimeoutException):
        kind, code = "timed out", "model_timeout"
    else:
        kind, code = "connection failed", "model_connection"
    reason = str(exc) or type(exc).__name__
    return RunFailed(f"{provider} model request {kind}: {reason} (POST {url})", code=code, retryable=True)


def stream_failure(provider: str, detail: str, api_key: str, *, retryable: bool = True) -> RunFailed:
    """An error reported inside an already-started stream: the provider broke mid-answer."""
    return RunFailed(
        f"{provider} model stream failed: {redact(detail, api_key)}", code="model_error", retryable=retryable
    )
