"""Request bodies are bounded before any endpoint parses them, as plain ASGI middleware.

Only REST requests pass through here: Socket.IO (`/socket.io`) is routed to the engine.io server before the
FastAPI app, and enforces its own buffer size. Responses are never touched, so streaming ones stay streaming.

- A body larger than ``WEGENT_MAX_BODY_BYTES`` gets 413, whether it declares its length or streams it.
- A JSON body nested deeper than ``MAX_JSON_DEPTH`` gets 400 before anything parses it: the standard JSON
  parser recurses per level (a few thousand ``[`` are a ``RecursionError``, a 500), and so do validation
  and error rendering well below that depth.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Resource documents are a handful of levels deep; anything near this is an attack or a mistake.
MAX_JSON_DEPTH = 64

# A JSON string, possessive so that a hostile body cannot make the scan backtrack.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` while a body streams past the limit; an HTTPException so that FastAPI's body
    parsing passes it through unchanged and its handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


def too_large_message(limit: int) -> str:
    return f"request body is larger than {limit} bytes (the limit set by WEGENT_MAX_BODY_BYTES)"


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays and objects; brackets inside strings do not count. Linear time."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "Content-Length must be a number of bytes")
                return
            if int(declared) > self.max_bytes:
                await _refuse(send, 413, too_large_message(self.max_bytes))
                return
        if "json" not in (_header(scope, b"content-type") or ""):
            await self.app(scope, self._capped(receive), send)
            return
        # JSON: the whole (bounded) body is read here so its nesting can be checked before it is parsed.
        body, messages = bytearray(), []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await _refuse(send, 413, too_large_message(self.max_bytes))
                return
            if not message.get("more_body", False):
                break
        depth = json_depth(body)
        if depth > self.max_json_depth:
            detail = f"request body is nested {depth} levels deep; at most {self.max_json_depth} are accepted"
            await _refuse(send, 400, detail)
            return
        replay = [{"type": "http.request", "body": bytes(body), "more_body": False}] if messages else []
        replay += [m for m in messages if m["type"] != "http.request"]

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replayed, send)

    def _capped(self, receive: Receive) -> Receive:
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        return capped


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1").strip()
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # Connection: close, as the rest of the body is not read.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
