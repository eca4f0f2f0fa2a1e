"""The ``Agno`` runtime: an Agno agent built from the Bot's Ghost and Model, streamed as our events.

- Ghost: ``RunRequest.system_prompt`` becomes the agent's instructions; ``RunRequest.mcp_servers`` (name ->
  ``{command, args, env, cwd}`` for stdio or ``{url, headers}`` for HTTP, optional ``transport``/``type``:
  ``stdio``, ``streamable-http`` (default for a url) or ``sse``, optional ``timeout`` seconds) become Agno
  ``MCPTools``, connected before the run and closed after it. A server that cannot be started or reached fails
  the run (``mcp_unavailable``) rather than letting the agent run without tools it was promised.
- Model: provider ``openai`` (any OpenAI-compatible endpoint: Agno ``OpenAILike``) or ``anthropic``/``claude``
  (Agno ``Claude``), with base_url, api_key, model, temperature, max_tokens and ``extra`` headers/body like the
  Chat runtime. The SDK clients are ours: no SDK retries (the worker decides about retrying), an HTTP client per
  run (closing it on cancel tears the model connection down), and a watch on its traffic so a failure is
  classified from the HTTP status or network error (``model_auth``, ``model_config``, ``model_unavailable``…).
- Session: Agno's own session storage, a SQLite file under the executor's workdir
  (``$EXECUTOR_WORKDIR/.wegent/agno-sessions.db``, in a folder that git ignores, since a task's repository is
  cloned into the same workdir), so it lives as long as the executor. The session id is
  ``RunRequest.session_id`` or a new one, reported in ``start`` and ``done``; a follow-up with it gets the earlier
  runs replayed by Agno (``options.num_history_runs``, default 50). When the store has no such session (a new
  executor, or the bot's first turn), ``RunRequest.history`` seeds the context instead.
- Events: text deltas, one ``tool_call`` + ``tool_result`` per tool execution, ``usage`` (the run's total over all
  model requests), ``done``. ``options.read_timeout`` bounds model silence (default 300 s);
  ``options.tool_call_limit`` caps tool calls per run.

Agno is imported on the first Agno run (in a thread: it takes seconds), so executors that never run Agno do not
pay for it; a missing install is a clear ``runtime_unavailable`` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import structlog

from executor.runtimes.anthropic_messages import DEFAULT_MAX_TOKENS, messages_url
from executor.runtimes.base import Emitted, RunFailed, Runtime
from executor.runtimes.chat import CONNECT_TIMEOUT, read_timeout
from executor.runtimes.model_errors import redact, status_failure
from executor.runtimes.model_stream import extra_body, extra_headers
from executor.runtimes.openai_chat import chat_completions_url
from executor.runtimes.wire_watch import make_wire_watch
from wegent.events import EventType, Usage
from wegent.executor_api import ModelConfig, RunRequest

log = structlog.get_logger(__name__)

OPENAI_PROVIDERS = frozenset({"openai"})
ANTHROPIC_PROVIDERS = frozenset({"anthropic", "claude"})
DEFAULT_HISTORY_RUNS = 50
DEFAULT_MCP_TIMEOUT = 30
SESSION_DB = Path(".wegent") / "agno-sessions.db"
_MAX_OUTPUT_CHARS = 20_000  # a tool result is an event on the wire, not a file transfer

_agno: SimpleNamespace | None = None
# One store (one SQLAlchemy engine and its pool) per database file for the process, shared by all runs.
_session_dbs: dict[Path, Any] = {}


def load_agno() -> SimpleNamespace:
    """Import Agno and the SDKs it drives, once per process."""
    global _agno
    if _agno is not None:
        return _agno
    # Agno reports usage to its cloud unless told not to (the variable overrides the Agent's own setting);
    # a sandbox must not phone home.
    os.environ["AGNO_TELEMETRY"] = "false"
    try:
        import anthropic
        import httpx2
        import openai
        from agno.agent import Agent
        from agno.db.sqlite import SqliteDb
        from agno.models.anthropic import Claude
        from agno.models.message import Message
        from agno.models.openai import OpenAILike
        from agno.run.agent import (
            RunCancelledEvent,
            RunCompletedEvent,
            RunContentEvent,
            RunErrorEvent,
            RunPausedEvent,
            ToolCallCompletedEvent,
            ToolCallStartedEvent,
        )
        from agno.tools.mcp import MCPTools, SSEClientParams, StreamableHTTPClientParams
        from mcp import StdioServerParameters
        from mcp.client.stdio import get_default_environment
    except ImportError as exc:
        raise RunFailed(
            f"the Agno runtime is not available in this executor: {exc} (install agno, openai, anthropic, mcp, "
            "fastmcp, sqlalchemy)",
            code="runtime_unavailable",
            retryable=False,
        ) from exc
    # Agno logs through its own plain-text handlers; hand its records to the executor's JSON logging instead.
    for name in ("agno", "agno-team", "agno-workflow"):
        agno_logger = logging.getLogger(name)
        agno_logger.handlers.clear()
        agno_logger.propagate = True
    # The SDKs' HTTP client logs every request URL at INFO; URLs may carry gateway keys in their query.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    _agno = SimpleNamespace(
        anthropic=anthropic,
        httpx2=httpx2,
        openai=openai,
        Agent=Agent,
        SqliteDb=SqliteDb,
        Claude=Claude,
        Message=Message,
        OpenAILike=OpenAILike,
        RunCancelledEvent=RunCancelledEvent,
        RunCompletedEvent=RunCompletedEvent,
        RunContentEvent=RunContentEvent,
        RunErrorEvent=RunErrorEvent,
        RunPausedEvent=RunPausedEvent,
        ToolCallCompletedEvent=ToolCallCompletedEvent,
        ToolCallStartedEvent=ToolCallStartedEvent,
        MCPTools=MCPTools,
        SSEClientParams=SSEClientParams,
        StreamableHTTPClientParams=StreamableHTTPClientParams,
        StdioServerParameters=StdioServerParameters,
        get_default_environment=get_default_environment,
    )
    return _agno


def _is_timeout(agno: SimpleNamespace, exc: Exception) -> bool:
    return isinstance(exc, agno.httpx2.TimeoutException)


# ---------------------------------------------------------------------------------------------- model


def openai_base_url(base_url: str) -> str:
    return chat_completions_url(base_url).removesuffix("/chat/completions")


def anthropic_base_url(base_url: str) -> str:
    # The SDK appends /v1/messages itself.
    return messages_url(base_url).removesuffix("/v1/messages")


def build_model(agno: SimpleNamespace, config: ModelConfig, read_seconds: float) -> tuple[Any, Any, Any]:
    """Return (Agno model, SDK client to close after the run, wire watch)."""
    provider = config.provider.lower()
    if provider not in OPENAI_PROVIDERS | ANTHROPIC_PROVIDERS:
        raise RunFailed(
            f"model provider {config.provider!r} is not supported by the Agno runtime (supported: anthropic, "
            "claude, openai)",
            code="model_config",
            retryable=False,
        )
    watch = make_wire_watch(agno.httpx2)
    timeout = agno.httpx2.Timeout(read_seconds, connect=CONNECT_TIMEOUT)
    http_client = agno.httpx2.AsyncClient(transport=watch, timeout=timeout)
    headers = extra_headers(config.extra) or None
    body = extra_body(config.extra) or None
    if provider in OPENAI_PROVIDERS:
        client = agno.openai.AsyncOpenAI(
            api_key=config.api_key or "not-needed",
            base_url=openai_base_url(config.base_url),
            max_retries=0,
            timeout=timeout,
            http_client=http_client,
            default_headers=headers,
        )
        model = agno.OpenAILike(
            id=config.model,
            api_key=config.api_key or "not-needed",
            base_url=openai_base_url(config.base_url),
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            extra_body=body,
        )
    else:
        client = agno.anthropic.AsyncAnthropic(
            api_key=config.api_key or None,
            base_url=anthropic_base_url(config.base_url),
            max_retries=0,
            timeout=timeout,
            http_client=http_client,
            default_headers=headers,
        )
        model = agno.Claude(
            id=config.model,
            api_key=config.api_key or None,
            max_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=config.temperature,
            request_params=body,
        )
    # Agno re-uses a cached SDK client while it is open; handing it ours keeps retries, timeouts and the
    # connection's lifetime under this run's control.
    model.async_client = client
    return model, client, watch


def classify_failure(
    agno: SimpleNamespace, config: ModelConfig, watch: Any, message: str, error_type: str | None
) -> RunFailed:
    provider = config.provider.lower()
    detail = redact(message or "the agent run failed", config.api_key)
    if watch.error is not None:
        exc = watch.error
        kind, code = (
            ("timed out", "model_timeout") if _is_timeout(agno, exc) else ("connection failed", "model_connection")
        )
        reason = str(exc) or type(exc).__name__
        return RunFailed(f"{provider} model request {kind}: {reason} (POST {watch.url})", code=code, retryable=True)
    if watch.status is not None and watch.status >= 400:
        return status_failure(provider, watch.status, detail.encode(), watch.url, config.api_key)
    if error_type == "model_authentication_error":
        return RunFailed(f"{provider} model authentication failed: {detail}", code="model_auth", retryable=False)
    return RunFailed(f"Agno agent run failed: {detail}", code="agent_error", retryable=False)


# ---------------------------------------------------------------------------------------------- tools


def mcp_toolkit(agno: SimpleNamespace, name: str, spec: Any, cwd: Path) -> Any:
    if not isinstance(spec, dict):
        raise RunFailed(
            f"MCP server {name!r}: expected an object, got {type(spec).__name__}",
            code="invalid_request",
            retryable=False,
        )
    transport = str(spec.get("transport") or spec.get("type") or ("streamable-http" if spec.get("url") else "stdio"))
    transport = {"http": "streamable-http", "streamable_http": "streamable-http"}.get(transport, transport)
    timeout = int(spec.get("timeout") or DEFAULT_MCP_TIMEOUT)
    if transport == "stdio":
        command = spec.get("command")
        if not command:
            raise RunFailed(f"MCP server {name!r}: stdio needs a 'command'", code="invalid_request", retryable=False)
        env = {**agno.get_default_environment(), **{str(k): str(v) for k, v in (spec.get("env") or {}).items()}}
        params = agno.StdioServerParameters(
            command=str(command),
            args=[str(a) for a in spec.get("args") or []],
            env=env,
            cwd=str(spec.get("cwd") or cwd),
        )
    elif transport in ("streamable-http", "sse"):
        url = spec.get("url")
        if not url:
            raise RunFailed(f"MCP server {name!r}: {transport} needs a 'url'", code="invalid_request", retryable=False)
        headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()} or None
        cls = agno.StreamableHTTPClientParams if transport == "streamable-http" else agno.SSEClientParams
        params = cls(url=str(url), headers=headers, timeout=timeout)
    else:
        raise RunFailed(
            f"MCP server {name!r}: unknown transport {transport!r}", code="invalid_request", retryable=False
        )
    return agno.MCPTools(server_params=params, transport=transport, timeout_seconds=timeout, name=name)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text if len(text) <= _MAX_OUTPUT_CHARS else text[:_MAX_OUTPUT_CHARS] + "… [truncated]"


def _int_option(options: dict[str, Any], key: str, default: int | None) -> int | None:
    value = options.get(key, default)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise RunFailed(
            f"options.{key} must be a positive integer, got {value!r}", code="invalid_request", retryable=False
        )
    return number


def session_db(agno: SimpleNamespace, path: Path) -> Any:
    db = _session_dbs.get(path)
    if db is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The workdir is also where a task's repository is cloned: the store must never show up in its
        # ``git status`` or diffs, so its folder ignores itself (as pytest's cache does).
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Executor state (Agno sessions); not part of the task's repository.\n*\n")
        db = _session_dbs[path] = agno.SqliteDb(db_file=str(path))
    return db


# ---------------------------------------------------------------------------------------------- runtime


class AgnoRuntime(Runtime):
    def session_db_path(self) -> Path:
        root = Path(os.environ.get("EXECUTOR_WORKDIR") or self.workdir)
        return root / SESSION_DB

    async def run(self, request: RunRequest) -> AsyncIterator[Emitted]:
        self.session_id = request.session_id or f"agno-{uuid.uuid4().hex}"
        yield self.start_event(request)
        agno = await asyncio.to_thread(load_agno)
        options = request.options
        history_runs = _int_option(options, "num_history_runs", DEFAULT_HISTORY_RUNS)
        tool_call_limit = _int_option(options, "tool_call_limit", None)
        model, client, watch = build_model(agno, request.model, read_timeout(options))
        db_path = self.session_db_path()
        parts: list[str] = []
        usage: Usage | None = None
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(client.close)
            toolkits = []
            for name, spec in request.mcp_servers.items():
                toolkit = mcp_toolkit(agno, str(name), spec, self.workdir)
                try:
                    await stack.enter_async_context(toolkit)
                except Exception as exc:
                    raise RunFailed(
                        f"MCP server {name!r} could not be started or reached: {type(exc).__name__}: {exc}",
                        code="mcp_unavailable",
                        retryable=False,
                    ) from exc
                log.info("mcp_connected", server=str(name), tools=sorted(toolkit.functions))
                toolkits.append(toolkit)
            agent = agno.Agent(
                model=model,
                db=session_db(agno, db_path),
                instructions=request.system_prompt or None,
                tools=toolkits or None,
                add_history_to_context=True,
                num_history_runs=history_runs,
                tool_call_limit=tool_call_limit,
                telemetry=False,
                markdown=False,
            )
            if request.history and await agent.aget_session(session_id=self.session_id) is None:
                # Nothing stored for this session here: the conversation so far comes from the request instead.
                agent.additional_input = [agno.Message(role=m.role, content=m.content) for m in request.history]
            log.info("agno_run", session_id=self.session_id, provider=request.model.provider, tools=len(toolkits))
            stream = agent.arun(
                request.prompt, session_id=self.session_id, stream=True, stream_events=True, run_id=request.run_id
            )
            async with contextlib.aclosing(stream):
                async for event in stream:
                    if isinstance(event, agno.RunContentEvent):
                        if isinstance(event.content, str) and event.content:
                            parts.append(event.content)
                            yield Emitted(EventType.TEXT, {"delta": event.content})
                    elif isinstance(event, agno.ToolCallStartedEvent) and event.tool is not None:
                        tool = event.tool
                        yield Emitted(
                            EventType.TOOL_CALL,
                            {"id": tool.tool_call_id, "name": tool.tool_name, "arguments": tool.tool_args or {}},
                        )
                    elif isinstance(event, agno.ToolCallCompletedEvent) and event.tool is not None:
                        tool = event.tool
                        yield Emitted(
                            EventType.TOOL_RESULT,
                            {
                                "id": tool.tool_call_id,
                                "output": _text(tool.result),
                                "is_error": bool(tool.tool_call_error),
                            },
                        )
                    elif isinstance(event, agno.RunCompletedEvent):
                        metrics = event.metrics
                        if metrics is not None:
                            usage = Usage(
                                input_tokens=int(metrics.input_tokens or 0),
                                output_tokens=int(metrics.output_tokens or 0),
                            )
                        if not parts and isinstance(event.content, str) and event.content:
                            parts.append(event.content)
                            yield Emitted(EventType.TEXT, {"delta": event.content})
                    elif isinstance(event, agno.RunErrorEvent):
                        raise classify_failure(agno, request.model, watch, str(event.content or ""), event.error_type)
                    elif isinstance(event, agno.RunCancelledEvent):
                        raise RunFailed(
                            f"the Agno run was cancelled: {event.reason or 'no reason given'}",
                            code="agent_error",
                            retryable=False,
                        )
                    elif isinstance(event, agno.RunPausedEvent):
                        raise RunFailed(
                            "the Agno run paused for human input, which this executor does not support",
                            code="agent_error",
                            retryable=False,
                        )
        if usage is not None:
            yield Emitted(EventType.USAGE, usage.model_dump())
        yield Emitted(
            EventType.DONE,
            {"output": "".join(parts), "usage": (usage or Usage()).model_dump(), "session_id": self.session_id},
        )
