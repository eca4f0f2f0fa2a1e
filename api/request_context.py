"""Request ids and one structured log line per request, as plain ASGI middleware.

Plain ASGI rather than `@app.middleware("http")`: the latter wraps every request and response body in extra
tasks and streams, a measurable cost on hot read paths.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import HTTP_SECONDS, route_template
from wegent.logging import get_logger

log = get_logger("api")
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex[:16]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500, "sent": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request.failed", path=scope["path"], method=scope["method"])
            if status["sent"]:
                raise
            body = b'{"detail":"internal error","request_id":"' + request_id.encode() + b'"}'
            await send_with_id(
                {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            HTTP_SECONDS.labels(
                method=scope["method"], route=route_template(scope), status=str(status["code"])
            ).observe(time.perf_counter() - started)
            if scope["path"] not in QUIET_PATHS:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status["code"],
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")[:64]
    return None
