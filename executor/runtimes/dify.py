"""The ``Dify`` runtime: one turn of a Dify app, streamed through its service API.

The Model (``provider: dify``) names the app:

- ``base_url``: the Dify API root, ``https://api.dify.ai`` or ``https://api.dify.ai/v1`` (both work)
- ``api_key``: the app's API key, sent as ``Authorization: Bearer``; a secret, never logged and redacted from
  error messages
- ``extra["appMode"]``: ``chat`` (default: chatbot, agent and chatflow apps, ``POST /v1/chat-messages``) or
  ``workflow`` (``POST /v1/workflows/run``)
- ``extra["inputs"]``: the app's input variables (a dict, sent as ``inputs``)
- ``extra["queryVariable"]``: workflow mode only, the input variable that receives the prompt (default ``query``)
- ``extra["user"]``: the Dify end-user id (default ``wegent``); Dify scopes conversations to it, so keep it stable

Chat mode keeps the conversation on Dify's side: ``RunRequest.session_id`` carries the Dify conversation id of
earlier turns, and the id Dify answers with is reported as ``session_id`` in ``start`` and ``done`` (``start``
waits for Dify's first event when the conversation is new, since only Dify knows the id). The Ghost's system
prompt and ``history`` are not sent: a Dify app has its own prompt and its own memory. Workflow runs are stateless.

Cancel closes the stream and asks Dify to stop generating (``POST /v1/chat-messages/{task_id}/stop``, or
``/v1/workflows/tasks/{task_id}/stop``), since Dify otherwise finishes the answer in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from executor.runtimes.base import Emitted, RunFailed, Runtime
from executor.runtimes.chat import CONNECT_TIMEOUT, read_timeout
from executor.runtimes.model_errors import provider_message, redact
from executor.runtimes.model_stream import extra_body, extra_headers, post_stream
from executor.runtimes.sse import iter_sse
from wegent.events import EventType, Usage
from wegent.executor_api import ModelConfig, RunRequest
from wegent.http import tls_context

log = structlog.get_logger(__name__)

PROVIDER = "dify"
CHAT = "chat"
WORKFLOW = "workflow"
APP_MODES = (CHAT, WORKFLOW)
DEFAULT_USER = "wegent"
DEFAULT_QUERY_VARIABLE = "query"
STOP_TIMEOUT = 5.0
# Statuses inside an ``error`` stream event that mean "try again later" rather than "this will never work".
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


def api_root(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


def app_mode(model: ModelConfig) -> str:
    mode = str(model.extra.get("appMode") or model.extra.get("app_mode") or CHAT).lower()
    if mode not in APP_MODES:
        raise RunFailed(
            f"Dify appMode must be one of {', '.join(APP_MODES)}, got {mode!r}", code="model_config", retryable=False
        )
    return mode


def _checked_mode(model: ModelConfig) -> str:
    if model.provider.lower() != PROVIDER:
        raise RunFailed(
            f"the Dify runtime needs a model with provider 'dify', got {model.provider!r}",
            code="model_config",
            retryable=False,
        )
    return app_mode(model)


def _inputs(model: ModelConfig) -> dict[str, Any]:
    inputs = model.extra.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise RunFailed("Dify inputs (model extra 'inputs') must be an object", code="model_config", retryable=False)
    return dict(inputs)


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _render(outputs: Any) -> str:
    """A workflow's outputs as text: a lone string output as is, anything else as JSON."""
    if isinstance(outputs, str):
        return outputs
    if isinstance(outputs, dict) and len(outputs) == 1:
        (value,) = outputs.values()
        if isinstance(value, str):
            return value
    return json.dumps(outputs, ensure_ascii=False) if outputs else ""


def _usage(reported: Any) -> Usage | None:
    if not isinstance(reported, dict):
        return None
    return Usage(
        input_tokens=int(reported.get("prompt_tokens") or 0),
        output_tokens=int(reported.get("completion_tokens") or 0),
    )


def stream_error(payload: dict[str, Any], api_key: str) -> RunFailed:
    """Dify's ``event: error`` carries the HTTP status it would have answered with, which decides retrying."""
    status = payload.get("status")
    code = payload.get("code") or "error"
    detail = redact(str(payload.get("message") or "no error message"), api_key)
    message = f"dify app stream failed: {code}: {detail}"
    if isinstance(status, int):
        if status in (401, 403):
            return RunFailed(message, code="model_auth", retryable=False)
        if status == 429:
            return RunFailed(message, code="model_rate_limited", retryable=True)
        if status >= 500 or status in _RETRYABLE_STATUSES:
            return RunFailed(message, code="model_unavailable", retryable=True)
        if status >= 400:
            return RunFailed(message, code="model_config" if status in (400, 404) else "model_error", retryable=False)
    return RunFailed(message, code="model_error", retryable=True)


class _Turn:
    """What one Dify stream told us so far."""

    def __init__(self) -> None:
        self.task_id: str | None = None
        self.conversation_id: str | None = None
        self.parts: list[str] = []
        self.replaced: str | None = None  # moderation replaced the whole answer
        self.usage: Usage | None = None
        self.ended = False  # the terminal Dify event arrived (message_end / workflow_finished / error)
        self.announced_tools: set[str] = set()
        self.answered_tools: set[str] = set()

    @property
    def output(self) -> str:
        return self.replaced if self.replaced is not None else "".join(self.parts)


class DifyRuntime(Runtime):
    async def run(self, request: RunRequest) -> AsyncIterator[Emitted]:
        model = request.model
        self.session_id = request.session_id
        try:
            mode = _checked_mode(model)
            timeout = httpx.Timeout(CONNECT_TIMEOUT, read=read_timeout(request.options))
        except RunFailed:
            yield self.start_event(request)
            raise
        # A new chat conversation gets its id from Dify's first event; everything else is known now.
        announced = mode == WORKFLOW or bool(self.session_id)
        if announced:
            yield self.start_event(request)
        turn = _Turn()
        # A client per run: closing it on cancel guarantees the stream's connection is gone, not pooled.
        async with httpx.AsyncClient(timeout=timeout, verify=tls_context()) as client:
            stream = self._stream(client, request, mode, turn)
            try:
                async with contextlib.aclosing(stream):
                    async for item in stream:
                        if not announced:
                            announced = True
                            yield self.start_event(request)
                        yield item
            except RunFailed:
                if not announced:
                    announced = True
                    yield self.start_event(request)
                raise
            except (asyncio.CancelledError, GeneratorExit):
                # The stream is closed by now (aclosing ran); Dify keeps generating unless told to stop.
                if not turn.ended:
                    await self._stop(client, model, mode, turn.task_id)
                raise
        if not announced:
            yield self.start_event(request)
        if turn.usage is not None:
            yield Emitted(EventType.USAGE, turn.usage.model_dump())
        yield Emitted(
            EventType.DONE,
            {"output": turn.output, "usage": (turn.usage or Usage()).model_dump(), "session_id": self.session_id},
        )

    async def _stream(
        self, client: httpx.AsyncClient, request: RunRequest, mode: str, turn: _Turn
    ) -> AsyncIterator[Emitted]:
        model = request.model
        root = api_root(model.base_url)
        user = str(model.extra.get("user") or DEFAULT_USER)
        inputs = _inputs(model)
        body: dict[str, Any] = {"inputs": inputs, "response_mode": "streaming", "user": user}
        if mode == CHAT:
            url = f"{root}/chat-messages"
            body["query"] = request.prompt
            body["conversation_id"] = self.session_id or ""
        else:
            url = f"{root}/workflows/run"
            inputs[str(model.extra.get("queryVariable") or DEFAULT_QUERY_VARIABLE)] = request.prompt
        body.update(extra_body(model.extra))
        headers = {"Accept": "text/event-stream", **extra_headers(model.extra)}
        if model.api_key:
            headers["Authorization"] = f"Bearer {model.api_key}"
        async with post_stream(
            client, provider=PROVIDER, url=url, headers=headers, body=body, api_key=model.api_key
        ) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                # A server that ignored response_mode=streaming answered in one blocking document.
                for item in self._blocking(json.loads(await response.aread()), mode, turn, model.api_key):
                    yield item
                return
            async for message in iter_sse(response):
                try:
                    payload = json.loads(message.data)
                except ValueError as exc:
                    raise RunFailed(
                        f"dify app stream sent an unparseable event: {message.data[:200]!r}",
                        code="model_error",
                        retryable=True,
                    ) from exc
                if not isinstance(payload, dict):
                    continue
                for item in self._on_event(payload, mode, turn, model.api_key):
                    yield item
                if turn.ended:
                    return
        raise RunFailed(
            "dify app stream ended before its final event (message_end / workflow_finished)",
            code="model_error",
            retryable=True,
        )

    def _remember(self, payload: dict[str, Any], turn: _Turn) -> None:
        if payload.get("task_id") and turn.task_id is None:
            turn.task_id = str(payload["task_id"])
            log.info("dify_task", task_id=turn.task_id)
        conversation = payload.get("conversation_id")
        if conversation and turn.conversation_id is None:
            turn.conversation_id = str(conversation)
            self.session_id = turn.conversation_id

    def _on_event(self, payload: dict[str, Any], mode: str, turn: _Turn, api_key: str) -> list[Emitted]:
        self._remember(payload, turn)
        kind = payload.get("event")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        emitted: list[Emitted] = []
        if kind in ("message", "agent_message"):
            answer = payload.get("answer")
            if isinstance(answer, str) and answer:
                turn.parts.append(answer)
                emitted.append(Emitted(EventType.TEXT, {"delta": answer}))
        elif kind == "text_chunk":
            text = data.get("text")
            if isinstance(text, str) and text:
                turn.parts.append(text)
                emitted.append(Emitted(EventType.TEXT, {"delta": text}))
        elif kind == "agent_thought":
            emitted.extend(self._thought(payload, turn))
        elif kind == "message_replace":
            turn.replaced = str(payload.get("answer") or "")
        elif kind == "message_end":
            turn.usage = _usage((payload.get("metadata") or {}).get("usage")) or turn.usage
            turn.ended = True
        elif kind == "workflow_finished":
            status = data.get("status")
            if status not in (None, "succeeded", "partial-succeeded"):
                turn.ended = True
                detail = redact(str(data.get("error") or "no error message"), api_key)
                raise RunFailed(f"dify workflow {status}: {detail}", code="model_error", retryable=False)
            if mode == WORKFLOW:
                total = int(data.get("total_tokens") or 0)
                # Workflows report one total; it is counted as output so totals still add up.
                turn.usage = Usage(input_tokens=0, output_tokens=total)
                if not turn.parts:
                    text = _render(data.get("outputs"))
                    if text:
                        turn.parts.append(text)
                        emitted.append(Emitted(EventType.TEXT, {"delta": text}))
                turn.ended = True
        elif kind == "error":
            turn.ended = True
            raise stream_error(payload, api_key)
        return emitted

    def _thought(self, payload: dict[str, Any], turn: _Turn) -> list[Emitted]:
        """Agent apps report tool use as ``agent_thought`` events, repeated per thought as it progresses."""
        thought_id = str(payload.get("id") or payload.get("position") or "")
        tool = payload.get("tool")
        emitted: list[Emitted] = []
        if not tool or not thought_id:
            return emitted
        if thought_id not in turn.announced_tools:
            turn.announced_tools.add(thought_id)
            arguments = _parse_json(payload.get("tool_input") or "{}")
            emitted.append(Emitted(EventType.TOOL_CALL, {"id": thought_id, "name": tool, "arguments": arguments}))
        observation = payload.get("observation")
        if observation and thought_id not in turn.answered_tools:
            turn.answered_tools.add(thought_id)
            emitted.append(Emitted(EventType.TOOL_RESULT, {"id": thought_id, "output": observation, "is_error": False}))
        return emitted

    def _blocking(self, document: Any, mode: str, turn: _Turn, api_key: str) -> list[Emitted]:
        if not isinstance(document, dict):
            raise RunFailed("dify app answered with an unexpected document", code="model_error", retryable=True)
        self._remember(document, turn)
        turn.ended = True
        if mode == CHAT:
            text = str(document.get("answer") or "")
            turn.usage = _usage((document.get("metadata") or {}).get("usage"))
        else:
            data = document.get("data") or {}
            if data.get("status") not in (None, "succeeded", "partial-succeeded"):
                detail = redact(str(data.get("error") or "no error message"), api_key)
                raise RunFailed(f"dify workflow {data.get('status')}: {detail}", code="model_error", retryable=False)
            text = _render(data.get("outputs"))
            turn.usage = Usage(input_tokens=0, output_tokens=int(data.get("total_tokens") or 0))
        if not text:
            return []
        turn.parts.append(text)
        return [Emitted(EventType.TEXT, {"delta": text})]

    async def _stop(self, client: httpx.AsyncClient, model: ModelConfig, mode: str, task_id: str | None) -> None:
        if not task_id:
            log.info("dify_stop_skipped", reason="no task id seen yet")
            return
        root = api_root(model.base_url)
        url = f"{root}/chat-messages/{task_id}/stop" if mode == CHAT else f"{root}/workflows/tasks/{task_id}/stop"
        headers = dict(extra_headers(model.extra))
        if model.api_key:
            headers["Authorization"] = f"Bearer {model.api_key}"
        user = str(model.extra.get("user") or DEFAULT_USER)
        parts = urlsplit(url)
        try:
            response = await client.post(url, json={"user": user}, headers=headers, timeout=STOP_TIMEOUT)
        except httpx.HTTPError as exc:
            log.warning("dify_stop_failed", endpoint=f"{parts.netloc}{parts.path}", error=type(exc).__name__)
            return
        if response.status_code >= 400:
            detail = redact(provider_message(response.content), model.api_key)
            log.warning(
                "dify_stop_failed", endpoint=f"{parts.netloc}{parts.path}", status=response.status_code, detail=detail
            )
        else:
            log.info("dify_stopped", task_id=task_id)
