"""A scriptable fake LLM provider speaking the OpenAI chat-completions and Anthropic Messages wire protocols.

Test infrastructure only. Answers follow script rules (``ScriptRule``) matched against the last user message;
with no matching rule the answer is ``"echo: " + last user message``. Every request is logged, including
whether the client hung up before the response ended, which is how tests prove a cancel closed the stream.

In process::

    server = ModelServer(api_key="sk-test").start()   # binds 0.0.0.0 on a free port
    server.script([ScriptRule(match="slow", text="...", chunk_delay=0.5)])
    server.openai_base_url   # http://127.0.0.1:<port>/v1
    server.stop()

Tool calls (OpenAI protocol): a rule with ``tool_calls=[{"name": ..., "arguments": {...}}]`` answers a request whose
last message is not a tool result with those calls, streamed as ``tool_calls`` deltas ending with
``finish_reason: "tool_calls"``; the follow-up request carrying the ``tool`` results (visible in the request log)
is answered with the rule's ``text`` (or the default echo).

Out of process: ``python -m tests.support.model_server --port 9999 [--api-key K]``, driven over HTTP with
``POST /_control/script``, ``POST /_control/reset``, ``GET /_control/requests`` (or ``ModelServerClient``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

STALL = None  # a frame that blocks until the client disconnects
Frame = bytes | float | None  # bytes to send, seconds to sleep, or STALL


class ScriptToolCall(BaseModel):
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)  # a dict is sent JSON-encoded
    id: str | None = None  # default: call_<n>

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


class ScriptRule(BaseModel):
    match: str = "*"  # substring of the last user message, or "*" for any
    text: str | None = None  # the answer; None means the default echo
    chunk_size: int = Field(4, ge=1)  # characters per streamed text chunk
    chunk_delay: float = Field(0.0, ge=0)  # seconds slept after each text chunk
    status: int | None = None  # answer with this HTTP error status and a provider-style error body
    error_message: str | None = None
    stall: bool = False  # send the first text chunk, then hang until the client disconnects
    times: int | None = Field(None, ge=1)  # apply this many times, then fall through; None = always
    # OpenAI only: ask the client to call these tools, unless the request already ends with a tool result.
    tool_calls: list[ScriptToolCall] | None = None

    def matches(self, last_user: str) -> bool:
        return self.match == "*" or self.match in last_user


class RecordedRequest(BaseModel):
    id: int
    path: str
    model: str | None
    messages: list[dict[str, Any]]
    system: str | None = None
    api_key: str | None  # the key the client presented (Bearer or x-api-key)
    stream: bool
    time: float
    status: int = 200
    completed: bool = False  # the whole response was sent
    disconnected: bool = False  # the client hung up before the response ended
    ended: float | None = None  # when the response finished or the client hung up
    body: dict[str, Any] = Field(default_factory=dict)


class ScriptPayload(BaseModel):
    rules: list[ScriptRule] = Field(default_factory=list)
    api_key: str | None = None  # also (re)configures the required key when given


RuleT = TypeVar("RuleT", bound=BaseModel)
EntryT = TypeVar("EntryT", bound=BaseModel)


class RequestLog(Generic[EntryT]):  # noqa: UP046 - Python 3.11 has no type parameter syntax
    """A fake server's request log, shared between its thread and the test thread, hence the lock.
    Entries need `id` and `time` fields."""

    def __init__(self, entry_type: type[EntryT]) -> None:
        self._entry_type = entry_type
        self._lock = threading.Lock()
        self._requests: list[EntryT] = []

    def reset(self) -> None:
        with self._lock:
            self._requests = []

    def record(self, **fields: Any) -> EntryT:
        with self._lock:
            entry = self._entry_type(id=len(self._requests) + 1, time=time.time(), **fields)
            self._requests.append(entry)
            return entry

    def update(self, entry: EntryT, **fields: Any) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(entry, key, value)

    def requests(self) -> list[EntryT]:
        with self._lock:
            return [entry.model_copy(deep=True) for entry in self._requests]


class ScriptBook(RequestLog[EntryT], Generic[RuleT, EntryT]):  # noqa: UP046
    """Scripted rules (each optionally limited to `times` uses) plus the request log. Rules need `times` and
    `matches(text)`."""

    def __init__(self, rule_type: type[RuleT], entry_type: type[EntryT]) -> None:
        super().__init__(entry_type)
        self._rule_type = rule_type
        self._rules: list[RuleT] = []
        self._uses: list[int] = []

    def script(self, rules: list[RuleT]) -> None:
        with self._lock:
            self._rules = [rule.model_copy() for rule in rules]
            self._uses = [0] * len(rules)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._rules, self._uses = [], []

    def pick(self, text: str) -> RuleT:
        """The first rule that still applies and matches; the default rule otherwise."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.times is not None and self._uses[index] >= rule.times:  # type: ignore[attr-defined]
                    continue
                if rule.matches(text):  # type: ignore[attr-defined]
                    self._uses[index] += 1
                    return rule
        return self._rule_type()


class ModelState(ScriptBook[ScriptRule, RecordedRequest]):
    def __init__(self, api_key: str | None = None) -> None:
        super().__init__(ScriptRule, RecordedRequest)
        self.api_key = api_key


# ---------------------------------------------------------------------------------------------- helpers


def text_of(content: Any) -> str:
    """Message content is a string or a list of typed parts in both protocols."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def last_user_message(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def word_count(text: str) -> int:
    return len(text.split())


def split_chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def presented_key(request: Request) -> str | None:
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"]
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{prefix}data: {payload}\n\n".encode()


def text_frames(pieces: list[str], rule: ScriptRule, encode: Callable[[str], bytes]) -> list[Frame]:
    frames: list[Frame] = []
    for index, piece in enumerate(pieces):
        frames.append(encode(piece))
        if rule.stall and index == 0:
            frames.append(STALL)
        if rule.chunk_delay:
            frames.append(rule.chunk_delay)
    return frames


_DEFAULT_ERRORS = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "You are not allowed to use this model.",
    404: "The model does not exist.",
    429: "Rate limit reached for requests.",
    500: "The server had an error while processing your request.",
    503: "The engine is currently overloaded, please try again later.",
}
_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def openai_error(status: int, message: str | None = None) -> JSONResponse:
    text = message or _DEFAULT_ERRORS.get(status, "Scripted error.")
    kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    code = "invalid_api_key" if status == 401 else None
    return JSONResponse({"error": {"message": text, "type": kind, "param": None, "code": code}}, status)


def anthropic_error(status: int, message: str | None = None) -> JSONResponse:
    text = message or _DEFAULT_ERRORS.get(status, "Scripted error.")
    kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return JSONResponse({"type": "error", "error": {"type": kind, "message": text}}, status)


# ---------------------------------------------------------------------------------------------- streaming


class ScriptedStream(Response):
    """Plays frames and watches for ``http.disconnect`` concurrently, so a hang-up is noticed even while the
    response is stalled or sleeping (a plain streaming response would only notice at its next write)."""

    def __init__(self, frames: list[Frame], state: ModelState, entry: RecordedRequest, media_type: str) -> None:
        super().__init__(media_type=media_type)
        self.frames = frames
        self.state = state
        self.entry = entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def wait_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        player = asyncio.create_task(self._play(send))
        watcher = asyncio.create_task(wait_disconnect())
        await asyncio.wait({player, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if player.done():
            watcher.cancel()
            if player.exception() is not None:
                raise player.exception()  # type: ignore[misc]  # a bug in the fake, not a hang-up
            self.state.update(self.entry, completed=True, ended=time.time())
            return
        player.cancel()
        watcher.cancel()
        self.state.update(self.entry, disconnected=True, ended=time.time())

    async def _play(self, send: Send) -> None:
        started = False
        for frame in self.frames:
            if frame is STALL:
                await asyncio.Event().wait()
            elif isinstance(frame, float | int):
                await asyncio.sleep(frame)
            else:
                if not started:
                    await self._start(send)
                    started = True
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        if not started:
            await self._start(send)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _start(self, send: Send) -> None:
        headers = [(b"content-type", self.media_type.encode()), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})


# ---------------------------------------------------------------------------------------------- protocols


def openai_frames(
    rule: ScriptRule, answer: str, model: str, body: dict[str, Any], usage: dict[str, int]
) -> list[Frame]:
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        payload.update(extra)
        return sse(payload)

    frames: list[Frame] = [chunk({"role": "assistant", "content": ""})]
    frames += text_frames(split_chunks(answer, rule.chunk_size), rule, lambda piece: chunk({"content": piece}))
    frames.append(chunk({}, "stop"))
    if include_usage:
        frames.append(chunk({}, choices=[], usage=usage))
    frames.append(sse("[DONE]"))
    return frames


def ends_with_tool_result(messages: list[dict[str, Any]]) -> bool:
    return bool(messages) and messages[-1].get("role") == "tool"


def tool_call_ids(calls: list[ScriptToolCall]) -> list[str]:
    return [call.id or f"call_{uuid.uuid4().hex[:8]}_{index}" for index, call in enumerate(calls)]


def openai_tool_call_frames(
    rule: ScriptRule, calls: list[ScriptToolCall], model: str, body: dict[str, Any], usage: dict[str, int]
) -> list[Frame]:
    """A streamed assistant turn that only calls tools: for each call a header delta (id, name) and its
    arguments in ``chunk_size`` pieces, then ``finish_reason: "tool_calls"``, as OpenAI streams them."""
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        payload.update(extra)
        return sse(payload)

    frames: list[Frame] = [chunk({"role": "assistant", "content": None})]
    for index, (call, call_id) in enumerate(zip(calls, tool_call_ids(calls), strict=True)):
        header = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        frames.append(chunk({"tool_calls": [header]}))
        for piece in split_chunks(call.arguments_json(), rule.chunk_size):
            frames.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
            if rule.chunk_delay:
                frames.append(rule.chunk_delay)
    frames.append(chunk({}, "tool_calls"))
    if include_usage:
        frames.append(chunk({}, choices=[], usage=usage))
    frames.append(sse("[DONE]"))
    return frames


def openai_tool_call_completion(calls: list[ScriptToolCall], model: str, usage: dict[str, int]) -> dict[str, Any]:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json()}}
            for call, call_id in zip(calls, tool_call_ids(calls), strict=True)
        ],
    }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": usage,
    }


def openai_completion(answer: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": usage,
    }


def anthropic_frames(rule: ScriptRule, answer: str, model: str, input_tokens: int, output_tokens: int) -> list[Frame]:
    message = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    frames: list[Frame] = [
        sse({"type": "message_start", "message": message}, "message_start"),
        sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]

    def delta(piece: str) -> bytes:
        payload = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        return sse(payload, "content_block_delta")

    frames += text_frames(split_chunks(answer, rule.chunk_size), rule, delta)
    frames += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return frames


def anthropic_message(answer: str, model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": answer}],
        "model": model,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


# ---------------------------------------------------------------------------------------------- app


async def json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def create_app(state: ModelState) -> FastAPI:
    app = FastAPI(title="Fake model provider")

    def hold_stall(rule: ScriptRule, entry: RecordedRequest, media_type: str) -> ScriptedStream | None:
        # A stalled non-streaming answer never starts: the client only sees its own timeout or cancel.
        return ScriptedStream([STALL], state, entry, media_type) if rule.stall else None

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await json_body(request)
        key = presented_key(request)
        if body is None or not body.get("model") or not isinstance(body.get("messages"), list):
            state.record(path=request.url.path, model=None, messages=[], api_key=key, stream=False, status=400)
            return openai_error(400, "Request must be JSON with 'model' and 'messages'.")
        messages: list[dict[str, Any]] = body["messages"]
        stream = bool(body.get("stream"))
        entry = state.record(
            path=request.url.path,
            model=body["model"],
            messages=messages,
            api_key=key,
            stream=stream,
            body=body,
        )
        if state.api_key and key != state.api_key:
            state.update(entry, status=401, completed=True)
            return openai_error(401)
        last_user = last_user_message(messages)
        rule = state.pick(last_user)
        if rule.status:
            state.update(entry, status=rule.status, completed=True)
            return openai_error(rule.status, rule.error_message)
        answer = rule.text if rule.text is not None else f"echo: {last_user}"
        prompt_tokens = sum(word_count(text_of(m.get("content"))) for m in messages)
        completion_tokens = word_count(answer)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        calls = rule.tool_calls if rule.tool_calls and not ends_with_tool_result(messages) else None
        if calls:
            usage["completion_tokens"] = sum(word_count(call.arguments_json()) + 1 for call in calls)
            usage["total_tokens"] = prompt_tokens + usage["completion_tokens"]
        if stream:
            if calls:
                frames = openai_tool_call_frames(rule, calls, body["model"], body, usage)
            else:
                frames = openai_frames(rule, answer, body["model"], body, usage)
            return ScriptedStream(frames, state, entry, "text/event-stream")
        stalled = hold_stall(rule, entry, "application/json")
        if stalled:
            return stalled
        frames = [rule.chunk_delay] if rule.chunk_delay else []
        document = (
            openai_tool_call_completion(calls, body["model"], usage)
            if calls
            else openai_completion(answer, body["model"], usage)
        )
        completion = json.dumps(document).encode()
        return ScriptedStream([*frames, completion], state, entry, "application/json")

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        body = await json_body(request)
        key = presented_key(request)
        if body is None or not isinstance(body.get("messages"), list):
            state.record(path=request.url.path, model=None, messages=[], api_key=key, stream=False, status=400)
            return anthropic_error(400, "messages: field required")
        turns: list[dict[str, Any]] = body["messages"]
        system = text_of(body.get("system")) or None
        stream = bool(body.get("stream"))
        entry = state.record(
            path=request.url.path,
            model=body.get("model"),
            messages=turns,
            system=system,
            api_key=key,
            stream=stream,
            body=body,
        )
        if state.api_key and key != state.api_key:
            state.update(entry, status=401, completed=True)
            return anthropic_error(401, "invalid x-api-key")
        # Faithful to the real API: these are the mistakes a client can make that it must not get away with.
        problem = None
        if not request.headers.get("anthropic-version"):
            problem = "anthropic-version: header is required"
        elif not body.get("max_tokens"):
            problem = "max_tokens: field required"
        elif not body.get("model"):
            problem = "model: field required"
        if problem:
            state.update(entry, status=400, completed=True)
            return anthropic_error(400, problem)
        last_user = last_user_message(turns)
        rule = state.pick(last_user)
        if rule.status:
            state.update(entry, status=rule.status, completed=True)
            return anthropic_error(rule.status, rule.error_message)
        answer = rule.text if rule.text is not None else f"echo: {last_user}"
        input_tokens = word_count(system or "") + sum(word_count(text_of(m.get("content"))) for m in turns)
        output_tokens = word_count(answer)
        if stream:
            frames = anthropic_frames(rule, answer, body["model"], input_tokens, output_tokens)
            return ScriptedStream(frames, state, entry, "text/event-stream")
        stalled = hold_stall(rule, entry, "application/json")
        if stalled:
            return stalled
        document = json.dumps(anthropic_message(answer, body["model"], input_tokens, output_tokens)).encode()
        return ScriptedStream([document], state, entry, "application/json")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "tests"}]}

    @app.post("/_control/script")
    async def control_script(payload: ScriptPayload | list[ScriptRule]) -> dict[str, Any]:
        if isinstance(payload, list):
            payload = ScriptPayload(rules=payload)
        state.script(payload.rules)
        if payload.api_key is not None:
            state.api_key = payload.api_key or None
        return {"rules": len(payload.rules)}

    @app.post("/_control/reset")
    async def control_reset() -> dict[str, str]:
        state.reset()
        return {"status": "ok"}

    @app.get("/_control/requests")
    async def control_requests() -> list[RecordedRequest]:
        return state.requests()

    return app


# ---------------------------------------------------------------------------------------------- servers


class ServerThread:
    """Run any ASGI app with uvicorn in a daemon thread on its own event loop (reusable by other tests)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.url_for("127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host)

    def url_for(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        # Binding ourselves gives the real port before uvicorn starts, without a find-then-bind race.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"uvicorn:{self.port}"
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        self._server = self._thread = None


def max_concurrency(requests: list[RecordedRequest]) -> int:
    """The most requests that were in flight at the same moment."""
    edges = sorted([(r.time, 1) for r in requests] + [(r.ended or float("inf"), -1) for r in requests])
    current = peak = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


class BackgroundServer:
    """A fake service's ASGI app under uvicorn in a thread; binds 0.0.0.0 by default so containers reach it."""

    def __init__(self, app: Any, host: str = "0.0.0.0", port: int = 0) -> None:
        self._thread = ServerThread(app, host, port)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._thread.port

    @property
    def url(self) -> str:
        """Root URL for clients on this host, e.g. ``http://127.0.0.1:PORT``."""
        return self._thread.url

    def url_for(self, host: str) -> str:
        """Root URL as seen from elsewhere, e.g. ``url_for("host.docker.internal")`` inside a container."""
        return self._thread.url_for(host)


class ModelServer(BackgroundServer):
    """The fake OpenAI-compatible / Anthropic provider."""

    def __init__(self, host: str = "0.0.0.0", port: int = 0, api_key: str | None = None) -> None:
        self.state = ModelState(api_key)
        super().__init__(create_app(self.state), host, port)

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def api_key(self) -> str | None:
        return self.state.api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        self.state.api_key = value

    def script(self, rules: list[ScriptRule | dict[str, Any]]) -> None:
        self.state.script([ScriptRule.model_validate(rule) for rule in rules])

    def reset(self) -> None:
        self.state.reset()

    def requests(self) -> list[RecordedRequest]:
        return self.state.requests()

    async def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool], max_wait: float = 5.0
    ) -> list[RecordedRequest]:
        """Poll the request log without blocking the caller's event loop; raise after ``max_wait`` s."""
        deadline = time.monotonic() + max_wait
        while True:
            log = self.requests()
            if predicate(log):
                return log
            if time.monotonic() > deadline:
                raise TimeoutError(f"model server log never satisfied the condition: {log}")
            await asyncio.sleep(0.02)


class ModelServerClient:
    """Drive an out-of-process model server (``python -m tests.support.model_server``) over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def script(self, rules: list[ScriptRule | dict[str, Any]], api_key: str | None = None) -> None:
        payload: dict[str, Any] = {"rules": [ScriptRule.model_validate(r).model_dump() for r in rules]}
        if api_key is not None:
            payload["api_key"] = api_key
        httpx.post(f"{self.url}/_control/script", json=payload, timeout=10).raise_for_status()

    def reset(self) -> None:
        httpx.post(f"{self.url}/_control/reset", timeout=10).raise_for_status()

    def requests(self) -> list[RecordedRequest]:
        response = httpx.get(f"{self.url}/_control/requests", timeout=10)
        response.raise_for_status()
        return [RecordedRequest.model_validate(entry) for entry in response.json()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.model_server")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--api-key", default=None, help="require this key (Bearer or x-api-key)")
    args = parser.parse_args(argv)
    print(
        f"fake model server on http://{args.host}:{args.port} (OpenAI: /v1, Anthropic: /v1/messages)",
        flush=True,
    )
    uvicorn.run(create_app(ModelState(args.api_key)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
