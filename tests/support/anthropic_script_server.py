"""A local Anthropic Messages API that plays a script of assistant turns, tool use included.

Test infrastructure only: it lets a real agent client (the ``claude`` CLI) run a multi-step tool-use loop with
no real model. It speaks the wire protocol as the public API does:

- ``POST /v1/messages`` with ``stream: true`` answers ``text/event-stream``: ``message_start``, then per content
  block ``content_block_start`` / ``content_block_delta`` (``text_delta`` or ``input_json_delta`` carrying the
  tool input JSON in pieces) / ``content_block_stop``, ``ping``, ``message_delta`` (stop reason and cumulative
  output tokens) and ``message_stop``; without ``stream`` it answers one message document.
- ``POST /v1/messages/count_tokens`` answers ``{"input_tokens": n}``.
- Auth is ``x-api-key`` or ``Authorization: Bearer``; a wrong key is a 401 ``authentication_error``;
  ``anthropic-version`` and ``max_tokens`` are required as upstream.
- Any other path is recorded and answered 404 ``not_found_error``, so a test can see what else a client asked.

Requests are split in two: *agent turns* (the request offers ``tools``) consume the next scripted ``Turn``;
*side requests* (no tools: titles, summaries, quota probes) get ``side_text`` and consume nothing. With the
script exhausted an agent turn gets ``default_text``.

    server = AnthropicScriptServer(api_key="sk-test").start()     # 0.0.0.0, free port
    server.script([Turn(tool_uses=[ToolUse(name="Read", input={"file_path": "/w/a.txt"})]),
                   Turn(text="All done.")])
    server.url_for("host.docker.internal")   # base URL as a container sees it
    server.requests()                        # every request, with its body and whether the client hung up
    server.stop()
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.support.model_server import BackgroundServer, RequestLog

Frame = bytes | float | None  # bytes to send, seconds to sleep, or None = hang until the client hangs up


class ToolUse(BaseModel):
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None  # default: toolu_<random>


class Turn(BaseModel):
    """One assistant message: optional text, then optional tool calls (stop reason ``tool_use``)."""

    text: str | None = None
    tool_uses: list[ToolUse] = Field(default_factory=list)
    chunk_size: int = Field(12, ge=1)  # characters per text delta / input-JSON delta
    chunk_delay: float = Field(0.0, ge=0)
    # Send message_start and the first text delta (if any), then hang until the client disconnects.
    stall: bool = False
    status: int | None = None  # answer with this HTTP error instead
    error_type: str = "api_error"
    error_message: str = "scripted failure"


class Recorded(BaseModel):
    id: int
    method: str
    path: str
    kind: str  # agent | side | count_tokens | other
    api_key: str | None
    anthropic_version: str | None
    body: dict[str, Any] | None = None
    turn_index: int | None = None  # which scripted turn answered it
    status: int = 200
    stream: bool = False
    time: float
    completed: bool = False
    disconnected: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    def tool_results(self) -> list[dict[str, Any]]:
        """The ``tool_result`` blocks of the last user message (what the client reports back)."""
        if not self.messages:
            return []
        content = self.messages[-1].get("content")
        if not isinstance(content, list):
            return []
        return [block for block in content if isinstance(block, dict) and block.get("type") == "tool_result"]


class ScriptState(RequestLog[Recorded]):
    def __init__(self, api_key: str | None, default_text: str, side_text: str) -> None:
        super().__init__(Recorded)
        self.api_key = api_key
        self.default_text = default_text
        self.side_text = side_text
        self._turns: list[Turn] = []
        self._next = 0

    def script(self, turns: list[Turn]) -> None:
        with self._lock:
            self._turns = list(turns)
            self._next = 0

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._turns, self._next = [], 0

    def next_turn(self) -> tuple[int | None, Turn]:
        with self._lock:
            if self._next < len(self._turns):
                index = self._next
                self._next += 1
                return index, self._turns[index]
        return None, Turn(text=self.default_text)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._turns) - self._next


# ---------------------------------------------------------------------------------------------- protocol


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def estimate_tokens(value: Any) -> int:
    """A stable, rough count (4 characters a token), enough for usage accounting in tests."""
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4) if value else 0


def tool_id(use: ToolUse) -> str:
    return use.id or f"toolu_{uuid.uuid4().hex[:24]}"


def blocks_of(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    blocks += [{"type": "tool_use", "id": tool_id(u), "name": u.name, "input": u.input} for u in turn.tool_uses]
    return blocks


def stop_reason(turn: Turn) -> str:
    return "tool_use" if turn.tool_uses else "end_turn"


def stream_frames(turn: Turn, model: str, input_tokens: int) -> list[Frame]:
    blocks = blocks_of(turn)
    output_tokens = estimate_tokens(blocks)
    message = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        },
    }
    frames: list[Frame] = [sse("message_start", {"type": "message_start", "message": message})]
    if turn.stall:
        if turn.text:
            frames.append(
                sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                )
            )
            frames.append(
                sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": turn.text}},
                )
            )
        return [*frames, None]
    frames.append(sse("ping", {"type": "ping"}))
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            pieces = [{"type": "text_delta", "text": p} for p in chunks(block["text"], turn.chunk_size)]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            encoded = json.dumps(block["input"])
            pieces = [{"type": "input_json_delta", "partial_json": p} for p in chunks(encoded, turn.chunk_size)]
        frames.append(
            sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        )
        for piece in pieces:
            frames.append(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": piece}))
            if turn.chunk_delay:
                frames.append(turn.chunk_delay)
        frames.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    frames.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(turn), "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    frames.append(sse("message_stop", {"type": "message_stop"}))
    return frames


def message_document(turn: Turn, model: str, input_tokens: int) -> dict[str, Any]:
    blocks = blocks_of(turn)
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason(turn),
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": estimate_tokens(blocks)},
    }


def error_body(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"type": "error", "error": {"type": kind, "message": message}},
        status_code=status,
        headers={"request-id": f"req_{uuid.uuid4().hex[:16]}"},
    )


class FramesResponse(Response):
    """Plays frames while watching for ``http.disconnect``, so a hang-up is recorded even mid-stall."""

    def __init__(self, frames: list[Frame], state: ScriptState, entry: Recorded, media_type: str) -> None:
        super().__init__(media_type=media_type)
        self.frames, self.state, self.entry = frames, state, entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def hang_up() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        player = asyncio.create_task(self._play(send))
        watcher = asyncio.create_task(hang_up())
        await asyncio.wait({player, watcher}, return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if player.done():
            if player.exception() is not None:
                raise player.exception()  # type: ignore[misc]  # a bug in this fake
            self.state.update(self.entry, completed=True)
            return
        player.cancel()
        self.state.update(self.entry, disconnected=True)

    async def _play(self, send: Send) -> None:
        headers = [
            (b"content-type", self.media_type.encode()),
            (b"cache-control", b"no-cache"),
            (b"request-id", f"req_{uuid.uuid4().hex[:16]}".encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for frame in self.frames:
            if frame is None:
                await asyncio.Event().wait()
            elif isinstance(frame, float):
                await asyncio.sleep(frame)
            else:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def presented_key(request: Request) -> str | None:
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def create_app(state: ScriptState) -> FastAPI:
    app = FastAPI(title="Anthropic script server")

    async def parse(request: Request) -> dict[str, Any] | None:
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def check(request: Request, body: dict[str, Any] | None, entry: Recorded) -> JSONResponse | None:
        if state.api_key and presented_key(request) != state.api_key:
            state.update(entry, status=401, completed=True)
            return error_body(401, "authentication_error", "invalid x-api-key")
        if body is None:
            state.update(entry, status=400, completed=True)
            return error_body(400, "invalid_request_error", "request body must be a JSON object")
        if not request.headers.get("anthropic-version"):
            state.update(entry, status=400, completed=True)
            return error_body(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body.get("messages"), list) or not body.get("model"):
            state.update(entry, status=400, completed=True)
            return error_body(400, "invalid_request_error", "model and messages are required")
        return None

    def record(request: Request, kind: str, body: dict[str, Any] | None) -> Recorded:
        return state.record(
            method=request.method,
            path=request.url.path,
            kind=kind,
            api_key=presented_key(request),
            anthropic_version=request.headers.get("anthropic-version"),
            body=body,
            stream=bool((body or {}).get("stream")),
        )

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        body = await parse(request)
        kind = "agent" if body and body.get("tools") else "side"
        entry = record(request, kind, body)
        problem = check(request, body, entry)
        if problem is not None:
            return problem
        assert body is not None
        if not body.get("max_tokens"):
            state.update(entry, status=400, completed=True)
            return error_body(400, "invalid_request_error", "max_tokens: field required")
        if kind == "agent":
            index, turn = state.next_turn()
        else:
            index, turn = None, Turn(text=state.side_text)
        state.update(entry, turn_index=index)
        if turn.status:
            state.update(entry, status=turn.status, completed=True)
            return error_body(turn.status, turn.error_type, turn.error_message)
        input_tokens = estimate_tokens(body.get("messages")) + estimate_tokens(body.get("system"))
        if body.get("stream"):
            frames = stream_frames(turn, str(body["model"]), input_tokens)
            return FramesResponse(frames, state, entry, "text/event-stream")
        document = json.dumps(message_document(turn, str(body["model"]), input_tokens)).encode()
        return FramesResponse([None] if turn.stall else [document], state, entry, "application/json")

    @app.post("/v1/messages/count_tokens")
    async def count_tokens(request: Request) -> Response:
        body = await parse(request)
        entry = record(request, "count_tokens", body)
        problem = check(request, body, entry)
        if problem is not None:
            return problem
        assert body is not None
        count = sum(estimate_tokens(body.get(k)) for k in ("messages", "system", "tools"))
        state.update(entry, completed=True)
        return JSONResponse({"input_tokens": count})

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
    async def other(request: Request, path: str) -> Response:
        entry = record(request, "other", await parse(request) if request.method in ("POST", "PUT") else None)
        state.update(entry, status=404, completed=True)
        return error_body(404, "not_found_error", f"no such endpoint: {request.method} /{path}")

    return app


class AnthropicScriptServer(BackgroundServer):
    """The scripted Anthropic Messages API."""

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int = 0,
        api_key: str | None = None,
        default_text: str = "Nothing more to do.",
        side_text: str = "Scripted side answer",
    ) -> None:
        self.state = ScriptState(api_key, default_text, side_text)
        super().__init__(create_app(self.state), host, port)

    def script(self, turns: list[Turn | dict[str, Any]]) -> None:
        self.state.script([Turn.model_validate(t) for t in turns])

    def reset(self) -> None:
        self.state.reset()

    @property
    def remaining(self) -> int:
        """Scripted turns not played yet."""
        return self.state.remaining

    def requests(self, kind: str | None = None) -> list[Recorded]:
        return [r for r in self.state.requests() if kind is None or r.kind == kind]

    async def wait_for(self, predicate: Callable[[list[Recorded]], bool], max_wait: float = 30.0) -> list[Recorded]:
        deadline = time.monotonic() + max_wait
        while True:
            log = self.requests()
            if predicate(log):
                return log
            if time.monotonic() > deadline:
                summary = [(r.kind, r.path, r.status, r.turn_index) for r in log]
                raise TimeoutError(f"script server log never satisfied the condition: {summary}")
            await asyncio.sleep(0.05)
