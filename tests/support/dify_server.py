"""A scripted fake of Dify's service API, faithful to what a client sees on the wire.

Test infrastructure only. Apps are identified by their API key, like in Dify: each key belongs to an app of a
mode (``chat``, ``agent-chat``, ``advanced-chat`` or ``workflow``), and calling the wrong route for the mode is
Dify's ``400 not_chat_app`` / ``not_workflow_app``.

- ``POST /v1/chat-messages`` (chat apps): SSE of ``data: {"event": ...}`` frames: ``message`` (or
  ``agent_message`` + ``agent_thought`` for agent apps; ``workflow_started`` / ``node_*`` / ``workflow_finished``
  around the answer for chatflows), then ``message_end`` with ``metadata.usage`` — or an ``error`` event.
  Conversations are real: an empty ``conversation_id`` starts one, a known id continues it (the default answer
  then quotes the previous query), an unknown id is ``404 Conversation Not Exists.``
- ``POST /v1/workflows/run`` (workflow apps): ``workflow_started``, ``node_started``, ``text_chunk``…,
  ``node_finished``, ``workflow_finished`` (``data.outputs``, ``data.total_tokens``, ``data.status``).
- ``POST /v1/chat-messages/{task_id}/stop`` and ``POST /v1/workflows/tasks/{task_id}/stop``: recorded, and a
  stream still open for that task ends the way Dify ends a stopped one.
- Blocking mode (``response_mode: blocking``) answers one JSON document.

Answers follow ``DifyRule`` scripts matched against the query; with no match the answer is ``"echo: " + query``.
Every request is logged (``requests()``), including whether the client hung up before the stream ended, and
every stop call (``stops()``).

In process::

    server = DifyServer(apps={"app-chat-key": "chat", "app-flow-key": "workflow"}).start()  # 0.0.0.0, free port
    server.script([DifyRule(match="slow", answer="...", chunk_delay=0.5)])
    server.base_url   # http://127.0.0.1:<port>  (the runtime appends /v1)
    server.stop()

Out of process: ``python -m tests.support.dify_server --port 9998 --app app-chat-key=chat``, driven over HTTP with
``POST /_control/script``, ``POST /_control/reset``, ``GET /_control/requests``, ``GET /_control/stops``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.support.model_server import BackgroundServer, ScriptBook, json_body, split_chunks, word_count

CHAT_MODES = frozenset({"chat", "agent-chat", "advanced-chat"})
APP_MODES = CHAT_MODES | {"workflow"}


class DifyThought(BaseModel):
    """One agent tool use: announced with ``tool``/``tool_input``, then repeated with its ``observation``."""

    tool: str
    tool_input: dict[str, Any] | str = Field(default_factory=dict)
    observation: str = ""
    thought: str = ""


class DifyRule(BaseModel):
    match: str = "*"  # substring of the query (chat) or of the inputs' JSON (workflow), or "*"
    answer: str | None = None  # None: "echo: <query>" (+ " (previously: <last query>)" in a continued conversation)
    chunk_size: int = Field(4, ge=1)
    chunk_delay: float = Field(0.0, ge=0)
    stall: bool = False  # send the first chunk, then hang until the client hangs up or the task is stopped
    status: int | None = None  # answer with this HTTP status and a Dify error body
    error_code: str | None = None  # Dify's error code for ``status`` or ``stream_error``
    error_message: str | None = None
    stream_error: bool = False  # start streaming, then send ``event: error`` (status from ``status``, default 400)
    thoughts: list[DifyThought] = Field(default_factory=list)  # agent apps: tool uses before the answer
    lead: str = ""  # agent apps: text streamed before the tool uses ("Let me check."), then the answer
    outputs: dict[str, Any] | None = None  # workflow: data.outputs (default {"text": answer})
    workflow_status: str = "succeeded"  # workflow: "failed" sends data.error = error_message
    times: int | None = Field(None, ge=1)

    def matches(self, text: str) -> bool:
        return self.match == "*" or self.match in text


class DifyRequest(BaseModel):
    id: int
    path: str
    app_mode: str | None
    api_key: str | None
    body: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None
    conversation_id: str | None = None  # the conversation this request was answered in
    prior_turns: int = 0  # how many turns that conversation had before this request
    task_id: str | None = None
    status: int = 200
    time: float
    completed: bool = False
    disconnected: bool = False
    stopped: bool = False  # a stop call ended this stream
    ended: float | None = None


class DifyStop(BaseModel):
    path: str
    task_id: str
    user: str | None
    api_key: str | None
    known_task: bool  # the task id is one this server issued (a task outlives its stream, as in Dify)
    time: float


class ScriptPayload(BaseModel):
    rules: list[DifyRule] = Field(default_factory=list)


class Turn(BaseModel):
    query: str
    answer: str


class DifyState(ScriptBook[DifyRule, DifyRequest]):
    """Apps, scripts, conversations and logs shared between the server thread and tests."""

    def __init__(self, apps: dict[str, str]) -> None:
        for key, mode in apps.items():
            if mode not in APP_MODES:
                raise ValueError(f"app {key!r}: unknown mode {mode!r}")
        super().__init__(DifyRule, DifyRequest)
        self.apps = dict(apps)
        self._stops: list[DifyStop] = []
        self.conversations: dict[str, tuple[str, str, list[Turn]]] = {}  # id -> (api key, user, turns)
        self.tasks: dict[str, asyncio.Event] = {}  # live streams: task id -> set when stopped (server loop only)
        self.issued_tasks: set[str] = set()

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._stops = []
            self.conversations.clear()
            self.issued_tasks.clear()

    def add_stop(self, stop: DifyStop) -> None:
        with self._lock:
            self._stops.append(stop)

    def stops(self) -> list[DifyStop]:
        with self._lock:
            return [stop.model_copy() for stop in self._stops]


# ---------------------------------------------------------------------------------------------- wire helpers


def presented_key(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def dify_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "status": status}, status)


def frame(payload: dict[str, Any]) -> bytes:
    # Dify sends every event as a bare ``data:`` line with the event name inside the JSON.
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


PING = b"event: ping\n\n"
STOP_LATENCY = 0.3  # seconds between a stop call and the stopped stream's last event
STALL = "stall"  # a frame that waits until the client hangs up or the task is stopped
Frame = bytes | float | str


def usage_of(prompt_tokens: int, completion_tokens: int, latency: float) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": f"{prompt_tokens * 0.000001:.7f}",
        "completion_tokens": completion_tokens,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": f"{completion_tokens * 0.000002:.7f}",
        "total_tokens": prompt_tokens + completion_tokens,
        "total_price": f"{prompt_tokens * 0.000001 + completion_tokens * 0.000002:.7f}",
        "currency": "USD",
        "latency": latency,
    }


class DifyStream(Response):
    """Plays frames while watching for the client hanging up; ``STALL`` also ends when the task is stopped,
    after which the stream closes like a stopped Dify task (a final ``message_end`` / ``workflow_finished``)."""

    def __init__(
        self, frames: list[Frame], state: DifyState, entry: DifyRequest, stopped_tail: list[bytes], task_id: str
    ) -> None:
        super().__init__(media_type="text/event-stream")
        self.frames = frames
        self.state = state
        self.entry = entry
        self.stopped_tail = stopped_tail
        self.task_id = task_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def wait_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        stop_event = self.state.tasks.setdefault(self.task_id, asyncio.Event())
        self.state.issued_tasks.add(self.task_id)
        player = asyncio.create_task(self._play(send, stop_event))
        watcher = asyncio.create_task(wait_disconnect())
        try:
            await asyncio.wait({player, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if player.done():
                watcher.cancel()
                if player.exception() is not None:
                    raise player.exception()  # type: ignore[misc]  # a bug in the fake, not a hang-up
                self.state.update(self.entry, completed=True, ended=time.time())
                return
            player.cancel()
            watcher.cancel()
            # A client that hangs up right after the last event (as it may) still got the whole stream.
            if not self.entry.completed:
                self.state.update(self.entry, disconnected=True)
            self.state.update(self.entry, ended=time.time())
        finally:
            self.state.tasks.pop(self.task_id, None)

    async def _play(self, send: Send, stop_event: asyncio.Event) -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for item in self.frames:
            if stop_event.is_set():
                break
            if item == STALL:
                await stop_event.wait()
            elif isinstance(item, float | int):
                await asyncio.sleep(item)
            else:
                await send({"type": "http.response.body", "body": item, "more_body": True})
        if stop_event.is_set():
            self.state.update(self.entry, stopped=True)
            # Dify notices a stop between two chunks, a moment later; a client that hangs up meanwhile is gone.
            await asyncio.sleep(STOP_LATENCY)
            for tail in self.stopped_tail:
                await send({"type": "http.response.body", "body": tail, "more_body": True})
        self.state.update(self.entry, completed=True)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def chunk_frames(pieces: list[str], rule: DifyRule, encode: Callable[[str], bytes]) -> list[Frame]:
    frames: list[Frame] = []
    for index, piece in enumerate(pieces):
        frames.append(encode(piece))
        if rule.stall and index == 0:
            frames.append(STALL)
        if rule.chunk_delay:
            frames.append(rule.chunk_delay)
    return frames


def error_event(rule: DifyRule, task_id: str, message_id: str, conversation_id: str | None = None) -> bytes:
    payload: dict[str, Any] = {
        "event": "error",
        "task_id": task_id,
        "message_id": message_id,
        "status": rule.status or 400,
        "code": rule.error_code or "completion_request_error",
        "message": rule.error_message or "[openai] Error: The model is overloaded.",
    }
    if conversation_id:
        payload["conversation_id"] = conversation_id
    return frame(payload)


# ---------------------------------------------------------------------------------------------- app


def create_app(state: DifyState) -> FastAPI:
    app = FastAPI(title="Fake Dify service API")

    def authenticate(request: Request) -> tuple[str | None, str | None, JSONResponse | None]:
        key = presented_key(request)
        if key is None:
            return (
                None,
                None,
                dify_error(401, "unauthorized", "Authorization header must be provided and start with 'Bearer'"),
            )
        mode = state.apps.get(key)
        if mode is None:
            return key, None, dify_error(401, "unauthorized", "Access token is invalid")
        return key, mode, None

    def scripted_failure(rule: DifyRule, entry: DifyRequest) -> JSONResponse | None:
        if rule.status and not rule.stream_error:
            state.update(entry, status=rule.status, completed=True)
            default_codes = {400: "invalid_param", 401: "unauthorized", 404: "not_found", 429: "too_many_requests"}
            code = rule.error_code or default_codes.get(rule.status, "internal_server_error")
            message = rule.error_message or (
                "Internal Server Error" if rule.status >= 500 else f"Scripted error {rule.status}."
            )
            return dify_error(rule.status, code, message)
        return None

    @app.post("/v1/chat-messages")
    async def chat_messages(request: Request) -> Response:
        key, mode, denied = authenticate(request)
        body = await json_body(request) or {}
        entry = state.record(path=request.url.path, app_mode=mode, api_key=key, body=body, query=body.get("query"))
        if denied:
            state.update(entry, status=denied.status_code, completed=True)
            return denied
        assert mode is not None and key is not None
        if mode not in CHAT_MODES:
            state.update(entry, status=400, completed=True)
            return dify_error(400, "not_chat_app", "Please check if your app mode matches the right API route.")
        query, user = body.get("query"), body.get("user")
        if not isinstance(query, str) or not query:
            state.update(entry, status=400, completed=True)
            return dify_error(400, "invalid_param", "query is required")
        if not isinstance(user, str) or not user:
            state.update(entry, status=400, completed=True)
            return dify_error(400, "invalid_param", "user is required")
        inputs = body.get("inputs")
        if inputs is not None and not isinstance(inputs, dict):
            state.update(entry, status=400, completed=True)
            return dify_error(400, "invalid_param", "inputs must be an object")
        conversation_id = body.get("conversation_id") or ""
        if conversation_id:
            known = state.conversations.get(conversation_id)
            if known is None or known[0] != key or known[1] != user:
                state.update(entry, status=404, completed=True)
                return dify_error(404, "not_found", "Conversation Not Exists.")
            turns = known[2]
        else:
            conversation_id = str(uuid.uuid4())
            turns = []
        rule = state.pick(query)
        failed = scripted_failure(rule, entry)
        if failed:
            return failed
        task_id, message_id = str(uuid.uuid4()), str(uuid.uuid4())
        state.update(entry, conversation_id=conversation_id, prior_turns=len(turns), task_id=task_id)
        if rule.answer is not None:
            answer = rule.answer
        elif turns:
            answer = f"echo: {query} (previously: {turns[-1].query})"
        else:
            answer = f"echo: {query}"
        # The turn is part of the conversation from the moment Dify accepts it, as in Dify.
        state.conversations.setdefault(conversation_id, (key, user, turns))
        turns.append(Turn(query=query, answer=answer))
        history_words = sum(word_count(t.query) + word_count(t.answer) for t in turns[:-1])
        usage = usage_of(history_words + word_count(query), word_count(answer), 0.5)
        created = int(time.time())
        base = {"task_id": task_id, "conversation_id": conversation_id, "message_id": message_id}

        if body.get("response_mode") != "streaming":
            if rule.stream_error:
                return dify_error(
                    rule.status or 400, rule.error_code or "completion_request_error", rule.error_message or "failed"
                )
            document = {
                "event": "message",
                **base,
                "id": message_id,
                "mode": mode,
                "answer": answer,
                "metadata": {"usage": usage, "retriever_resources": []},
                "created_at": created,
            }
            state.update(entry, completed=True)
            return JSONResponse(document)

        message_event = "agent_message" if mode == "agent-chat" else "message"
        frames: list[Frame] = [PING]
        workflow_run_id = str(uuid.uuid4())
        if mode == "advanced-chat":
            frames.append(
                frame(
                    {
                        "event": "workflow_started",
                        **base,
                        "workflow_run_id": workflow_run_id,
                        "data": {"id": workflow_run_id, "workflow_id": "wf-fake", "created_at": created},
                    }
                )
            )

        def text_event(piece: str) -> bytes:
            return frame({"event": message_event, **base, "id": message_id, "answer": piece, "created_at": created})

        if rule.lead:
            frames += chunk_frames(split_chunks(rule.lead, rule.chunk_size), rule, text_event)
        for position, thought in enumerate(rule.thoughts, start=1):
            thought_id = str(uuid.uuid4())
            tool_input = thought.tool_input if isinstance(thought.tool_input, str) else json.dumps(thought.tool_input)
            announced = {
                "event": "agent_thought",
                **base,
                "id": thought_id,
                "position": position,
                "thought": thought.thought,
                "observation": "",
                "tool": thought.tool,
                "tool_input": tool_input,
                "message_files": [],
                "created_at": created,
            }
            frames.append(frame(announced))
            frames.append(frame({**announced, "observation": thought.observation}))

        pieces = split_chunks(answer, rule.chunk_size)
        if rule.stream_error:
            frames += [text_event(pieces[0]), error_event(rule, task_id, message_id, conversation_id)]
            return DifyStream(frames, state, entry, [], task_id)
        frames += chunk_frames(pieces, rule, text_event)
        end: list[bytes] = []
        if mode == "advanced-chat":
            end.append(
                frame(
                    {
                        "event": "workflow_finished",
                        **base,
                        "workflow_run_id": workflow_run_id,
                        "data": {
                            "id": workflow_run_id,
                            "workflow_id": "wf-fake",
                            "status": "succeeded",
                            "outputs": {"answer": answer},
                            "total_tokens": usage["total_tokens"],
                            "created_at": created,
                        },
                    }
                )
            )
        end.append(
            frame(
                {
                    "event": "message_end",
                    **base,
                    "id": message_id,
                    "metadata": {"usage": usage, "retriever_resources": []},
                    "files": [],
                }
            )
        )
        return DifyStream(frames + end, state, entry, end, task_id)

    @app.post("/v1/workflows/run")
    async def workflows_run(request: Request) -> Response:
        key, mode, denied = authenticate(request)
        body = await json_body(request) or {}
        entry = state.record(path=request.url.path, app_mode=mode, api_key=key, body=body)
        if denied:
            state.update(entry, status=denied.status_code, completed=True)
            return denied
        if mode != "workflow":
            state.update(entry, status=400, completed=True)
            return dify_error(400, "not_workflow_app", "Please check if your app mode matches the right API route.")
        inputs, user = body.get("inputs"), body.get("user")
        if not isinstance(inputs, dict):
            state.update(entry, status=400, completed=True)
            return dify_error(400, "invalid_param", "inputs is required in request body")
        if not isinstance(user, str) or not user:
            state.update(entry, status=400, completed=True)
            return dify_error(400, "invalid_param", "user is required")
        text = json.dumps(inputs, ensure_ascii=False)
        rule = state.pick(text)
        failed = scripted_failure(rule, entry)
        if failed:
            return failed
        task_id, run_id = str(uuid.uuid4()), str(uuid.uuid4())
        state.update(entry, task_id=task_id)
        query = inputs.get("query")
        answer = rule.answer if rule.answer is not None else f"echo: {query if isinstance(query, str) else text}"
        outputs = rule.outputs if rule.outputs is not None else {"text": answer}
        total_tokens = word_count(text) + word_count(answer)
        created = int(time.time())
        base = {"task_id": task_id, "workflow_run_id": run_id}

        def finished(status: str, error: str | None = None) -> bytes:
            data = {
                "id": run_id,
                "workflow_id": "wf-fake",
                "status": status,
                "outputs": outputs if status == "succeeded" else None,
                "error": error,
                "elapsed_time": 0.5,
                "total_tokens": total_tokens,
                "total_steps": 3,
                "created_at": created,
                "finished_at": created + 1,
            }
            return frame({"event": "workflow_finished", **base, "data": data})

        if body.get("response_mode") != "streaming":
            status = rule.workflow_status
            document = {
                **base,
                "data": {
                    "id": run_id,
                    "workflow_id": "wf-fake",
                    "status": status,
                    "outputs": outputs if status == "succeeded" else None,
                    "error": rule.error_message if status != "succeeded" else None,
                    "elapsed_time": 0.5,
                    "total_tokens": total_tokens,
                    "total_steps": 3,
                    "created_at": created,
                    "finished_at": created + 1,
                },
            }
            state.update(entry, completed=True)
            return JSONResponse(document)

        node = {"id": str(uuid.uuid4()), "node_id": "llm", "node_type": "llm", "title": "LLM", "index": 1}
        frames: list[Frame] = [
            PING,
            frame(
                {
                    "event": "workflow_started",
                    **base,
                    "data": {"id": run_id, "workflow_id": "wf-fake", "inputs": inputs, "created_at": created},
                }
            ),
            frame({"event": "node_started", **base, "data": {**node, "created_at": created}}),
        ]
        if rule.workflow_status != "succeeded":
            frames.append(
                frame(
                    {
                        "event": "node_finished",
                        **base,
                        "data": {**node, "status": "failed", "error": rule.error_message},
                    }
                )
            )
            frames.append(finished(rule.workflow_status, rule.error_message or "Node LLM run failed"))
            return DifyStream(frames, state, entry, [], task_id)

        def text_event(piece: str) -> bytes:
            return frame(
                {"event": "text_chunk", **base, "data": {"text": piece, "from_variable_selector": ["llm", "text"]}}
            )

        if rule.stream_error:
            frames += [text_event(split_chunks(answer, rule.chunk_size)[0]), error_event(rule, task_id, run_id)]
            return DifyStream(frames, state, entry, [], task_id)
        if rule.outputs is None:
            frames += chunk_frames(split_chunks(answer, rule.chunk_size), rule, text_event)
        elif rule.stall:
            frames.append(STALL)
        end = [
            frame({"event": "node_finished", **base, "data": {**node, "status": "succeeded", "outputs": outputs}}),
            finished("succeeded"),
        ]
        return DifyStream(frames + end, state, entry, [finished("stopped", "Workflow stopped by user.")], task_id)

    async def stop(request: Request, task_id: str) -> Response:
        key, _mode, denied = authenticate(request)
        body = await json_body(request) or {}
        state.add_stop(
            DifyStop(
                path=request.url.path,
                task_id=task_id,
                user=body.get("user"),
                api_key=key,
                known_task=task_id in state.issued_tasks,
                time=time.time(),
            )
        )
        if denied:
            return denied
        if not body.get("user"):
            return dify_error(400, "invalid_param", "user is required")
        event = state.tasks.get(task_id)
        if event is not None:
            event.set()
        return JSONResponse({"result": "success"})

    @app.post("/v1/chat-messages/{task_id}/stop")
    async def stop_chat(request: Request, task_id: str) -> Response:
        return await stop(request, task_id)

    @app.post("/v1/workflows/tasks/{task_id}/stop")
    async def stop_workflow(request: Request, task_id: str) -> Response:
        return await stop(request, task_id)

    @app.post("/_control/script")
    async def control_script(payload: ScriptPayload | list[DifyRule]) -> dict[str, Any]:
        if isinstance(payload, list):
            payload = ScriptPayload(rules=payload)
        state.script(payload.rules)
        return {"rules": len(payload.rules)}

    @app.post("/_control/reset")
    async def control_reset() -> dict[str, str]:
        state.reset()
        return {"status": "ok"}

    @app.get("/_control/requests")
    async def control_requests() -> list[DifyRequest]:
        return state.requests()

    @app.get("/_control/stops")
    async def control_stops() -> list[DifyStop]:
        return state.stops()

    return app


class DifyServer(BackgroundServer):
    """The fake Dify."""

    def __init__(self, apps: dict[str, str] | None = None, host: str = "0.0.0.0", port: int = 0) -> None:
        self.state = DifyState(apps or {"app-test-key": "chat"})
        super().__init__(create_app(self.state), host, port)

    @property
    def base_url(self) -> str:
        """What a Dify Model's ``base_url`` is on this host (the client adds ``/v1``)."""
        return self.url

    def add_app(self, api_key: str, mode: str) -> None:
        if mode not in APP_MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.state.apps[api_key] = mode

    def script(self, rules: list[DifyRule | dict[str, Any]]) -> None:
        self.state.script([DifyRule.model_validate(rule) for rule in rules])

    def reset(self) -> None:
        self.state.reset()

    def requests(self) -> list[DifyRequest]:
        return self.state.requests()

    def stops(self) -> list[DifyStop]:
        return self.state.stops()

    async def wait_for(self, predicate: Callable[[DifyServer], bool], max_wait: float = 5.0) -> None:
        """Poll without blocking the caller's event loop; raise after ``max_wait`` s."""
        deadline = time.monotonic() + max_wait
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake Dify never satisfied the condition: {self.requests()} {self.stops()}")
            await asyncio.sleep(0.02)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.dify_server")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8998)
    parser.add_argument(
        "--app", action="append", default=[], help="KEY=MODE (chat, agent-chat, advanced-chat, workflow)"
    )
    args = parser.parse_args(argv)
    apps = dict(item.split("=", 1) for item in args.app) or {"app-test-key": "chat"}
    print(
        f"fake Dify on http://{args.host}:{args.port} (apps: {', '.join(f'{k}={v}' for k, v in apps.items())})",
        flush=True,
    )
    uvicorn.run(create_app(DifyState(apps)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
