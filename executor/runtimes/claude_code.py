"""The ``ClaudeCode`` runtime: the ``claude`` CLI, headless, working in the executor's directory (the clone).

One run is one ``claude -p --output-format stream-json --verbose --include-partial-messages`` process in its
own process group, fed the prompt on stdin (no argv length limit, no option injection). Its stream-json lines
become our events: streamed ``text_delta``s of the top-level agent -> ``text``; ``tool_use`` blocks ->
``tool_call``; ``tool_result`` blocks -> ``tool_result``; the final ``result`` -> ``usage`` + ``done``.

Sessions: a new run gets a fresh ``--session-id`` (so ``start`` already names it); a request with
``session_id`` resumes it with ``--resume``. When that session is gone (e.g. the sandbox was replaced), the run
starts a new session with the earlier turns folded into the prompt. The CLI keeps sessions under
``CLAUDE_CONFIG_DIR`` (``$WEGENT_CLAUDE_CONFIG_DIR``, default ``~/.wegent/claude``: never the user's own
``~/.claude`` settings, hooks or MCP servers).

Model: an Anthropic Messages endpoint (``provider`` anthropic/claude) as ``ANTHROPIC_BASE_URL``, the key as
``ANTHROPIC_API_KEY`` (``extra.auth == "bearer"``: ``ANTHROPIC_AUTH_TOKEN``), the model for every role the CLI
has (main, small/fast, haiku/sonnet/opus aliases), so a gateway serving one model is enough. Non-essential
traffic, telemetry, error reporting and the auto-updater are off.

Permissions: ``bypassPermissions`` (the agent may edit files and run commands in its sandbox) unless the
executor runs as root, where the CLI refuses that mode; root (only the local backend, no sandbox) gets
``acceptEdits``: file edits are allowed, other tools that need approval are denied. ``options`` may set
``permission_mode``, ``allowed_tools``, ``disallowed_tools``, ``max_budget_usd`` and ``max_retries``.

Cancellation kills the whole process group (SIGTERM, then SIGKILL after a grace period); so does the end of a
run, so nothing an agent left running in the background outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from executor.runtimes.base import Emitted, RunFailed, Runtime
from executor.runtimes.model_errors import redact
from wegent.events import EventType, Usage
from wegent.executor_api import ModelConfig, RunRequest

log = structlog.get_logger(__name__)

CLAUDE_BIN_ENV = "WEGENT_CLAUDE_BIN"
CONFIG_DIR_ENV = "WEGENT_CLAUDE_CONFIG_DIR"
PROVIDERS = frozenset({"anthropic", "claude"})
PERMISSION_MODES = frozenset({"acceptEdits", "bypassPermissions", "default", "dontAsk", "plan", "auto"})
DEFAULT_MAX_RETRIES = 4
TERMINATE_GRACE_SECONDS = 3.0
EXIT_WAIT_SECONDS = 15.0
MAX_LINE_BYTES = 64 * 1024 * 1024  # a tool result (a whole file read) arrives as one JSON line
MAX_TOOL_OUTPUT_CHARS = 20_000
MAX_ARG_PROMPT_BYTES = 100_000  # below Linux's 128 KiB per-argument limit
STDERR_TAIL_LINES = 40
# What the CLI must never inherit from the executor: its API token, and provider settings we did not choose.
_DROPPED_ENV_PREFIXES = ("EXECUTOR_", "ANTHROPIC_", "CLAUDE_CODE_", "CLAUDE_CONFIG_DIR", "AWS_BEARER_TOKEN")
_QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_BUG_COMMAND": "1",
    "DISABLE_COST_WARNINGS": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
}
_MODEL_ROLES = (
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
)


class SessionMissing(Exception):
    """``--resume`` named a session the CLI does not have."""


def find_claude() -> str:
    """``$WEGENT_CLAUDE_BIN``, else ``claude`` on PATH, else next to this interpreter (the repo's venv)."""
    explicit = os.environ.get(CLAUDE_BIN_ENV)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise RunFailed(
            f"{CLAUDE_BIN_ENV}={explicit} is not an executable file", code="runtime_unavailable", retryable=False
        )
    found = shutil.which("claude")
    if found:
        return found
    sibling = Path(sys.executable).parent / "claude"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    raise RunFailed(
        "the claude CLI is not installed on this executor (the executor image ships it; on a host run "
        f"scripts/ensure_claude.sh, or set {CLAUDE_BIN_ENV})",
        code="runtime_unavailable",
        retryable=False,
    )


def anthropic_base_url(base_url: str) -> str:
    """The CLI appends ``/v1/messages`` itself."""
    base = base_url.rstrip("/")
    for suffix in ("/v1/messages", "/v1"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def config_dir() -> Path:
    configured = os.environ.get(CONFIG_DIR_ENV)
    if configured:
        return Path(configured)
    home = os.environ.get("HOME") or ""
    if home and os.access(home, os.W_OK):
        return Path(home) / ".wegent" / "claude"
    return Path(tempfile.gettempdir()) / f"wegent-claude-{os.getuid()}"


def cli_env(model: ModelConfig, options: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    env["CLAUDE_CONFIG_DIR"] = str(directory)
    if not env.get("HOME") or not os.access(env["HOME"], os.W_OK):
        env["HOME"] = str(directory)
    env.update(_QUIET_ENV)
    env["ANTHROPIC_BASE_URL"] = anthropic_base_url(model.base_url)
    if model.api_key:
        bearer = str(model.extra.get("auth") or "").lower() == "bearer"
        env["ANTHROPIC_AUTH_TOKEN" if bearer else "ANTHROPIC_API_KEY"] = model.api_key
    if model.model:
        for role in _MODEL_ROLES:
            env[role] = model.model
        small = model.extra.get("small_fast_model")
        if small:
            env["ANTHROPIC_SMALL_FAST_MODEL"] = env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = str(small)
    if model.max_tokens:
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(model.max_tokens)
    headers = model.extra.get("headers") or model.extra.get("custom_headers")
    if isinstance(headers, dict) and headers:
        env["ANTHROPIC_CUSTOM_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
    env["CLAUDE_CODE_MAX_RETRIES"] = str(int(options.get("max_retries", DEFAULT_MAX_RETRIES)))
    return env


def permission_mode(options: dict[str, Any]) -> str:
    mode = options.get("permission_mode")
    if mode is None:
        return "acceptEdits" if os.geteuid() == 0 else "bypassPermissions"
    if mode not in PERMISSION_MODES:
        known = ", ".join(sorted(PERMISSION_MODES))
        raise RunFailed(
            f"options.permission_mode {mode!r} is not one of: {known}", code="invalid_request", retryable=False
        )
    return str(mode)


def _tool_list(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(value)
    raise RunFailed(f"options.{name} must be a list of tool names", code="invalid_request", retryable=False)


def mcp_config(servers: dict[str, Any]) -> str:
    """Ghost ``mcpServers`` (name -> {command,args,env} or {url,headers}) in the CLI's ``--mcp-config`` form."""
    converted: dict[str, Any] = {}
    for name, server in servers.items():
        if not isinstance(server, dict):
            continue
        entry = dict(server)
        if "url" in entry and "type" not in entry:
            entry["type"] = "sse" if str(entry["url"]).rstrip("/").endswith("/sse") else "http"
        converted[name] = entry
    return json.dumps({"mcpServers": converted})


def transcript_prompt(request: RunRequest) -> str:
    """A fresh session that must know the earlier turns gets them as a transcript before the new prompt."""
    if not request.history:
        return request.prompt
    turns = "\n\n".join(f"[{m.role}]\n{m.content}" for m in request.history)
    return f"The conversation so far:\n\n{turns}\n\n[user]\n{request.prompt}"


def tool_output(content: Any) -> str:
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict):
                parts.append(f"[{block.get('type', 'content')}]")
        text = "\n".join(parts)
    else:
        text = "" if content is None else json.dumps(content)
    if len(text) > MAX_TOOL_OUTPUT_CHARS:
        text = text[:MAX_TOOL_OUTPUT_CHARS] + f"\n… [{len(text) - MAX_TOOL_OUTPUT_CHARS} more characters]"
    return text


def result_usage(result: dict[str, Any]) -> Usage:
    usage = result.get("usage") or {}
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return Usage(
        input_tokens=sum(int(usage.get(k) or 0) for k in keys), output_tokens=int(usage.get("output_tokens") or 0)
    )


def result_failure(result: dict[str, Any], api_key: str) -> RunFailed:
    """Classify a failed ``result`` the way the Chat runtime classifies HTTP failures."""
    status = result.get("api_error_status")
    subtype = str(result.get("subtype") or "error")
    detail = str(result.get("result") or "; ".join(str(e) for e in result.get("errors") or []) or subtype)
    message = redact(f"claude: {detail}"[:2000], api_key)
    if isinstance(status, int):
        if status in (401, 403):
            return RunFailed(message, code="model_auth", retryable=False)
        if status == 429:
            return RunFailed(message, code="model_rate_limited", retryable=True)
        if status >= 500 or status in (408, 409):
            return RunFailed(message, code="model_unavailable", retryable=True)
        if status in (400, 404, 413, 422):
            return RunFailed(message, code="model_config", retryable=False)
        return RunFailed(message, code="model_error", retryable=False)
    if subtype.startswith("error_max"):
        return RunFailed(message, code="agent_limit", retryable=False)
    return RunFailed(message, code="agent_error", retryable=False)


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class ClaudeCodeRuntime(Runtime):
    async def run(self, request: RunRequest) -> AsyncIterator[Emitted]:
        # Only a CLI session id (a UUID) can be resumed; anything else (say, a Chat run's id from before the
        # bot's shell changed) starts a new session that is told the conversation so far.
        resume = request.session_id if _is_uuid(request.session_id) else None
        self.session_id = resume or str(uuid.uuid4())
        yield self.start_event(request)
        if request.model.provider.lower() not in PROVIDERS:
            raise RunFailed(
                f"the ClaudeCode runtime needs an Anthropic Messages model (provider anthropic), "
                f"not provider {request.model.provider!r}",
                code="model_config",
                retryable=False,
            )
        binary = find_claude()
        env = cli_env(request.model, request.options)
        try:
            async for item in self._attempt(binary, request, env, resume=resume):
                yield item
            return
        except SessionMissing:
            log.warning("claude_session_missing", session_id=resume)
        # The session is gone with its sandbox: a new one, told the conversation so far.
        self.session_id = str(uuid.uuid4())
        async for item in self._attempt(binary, request, env, resume=None):
            yield item

    def _args(self, binary: str, request: RunRequest, resume: str | None, scratch: Path) -> list[str]:
        options = request.options
        args = [binary, "-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]
        args += ["--permission-mode", permission_mode(options)]
        if resume:
            args += ["--resume", resume]
        else:
            args += ["--session-id", str(self.session_id)]
        if request.system_prompt:
            if len(request.system_prompt.encode()) < MAX_ARG_PROMPT_BYTES:
                args += ["--append-system-prompt", request.system_prompt]
            else:
                prompt_file = scratch / "system-prompt.md"
                prompt_file.write_text(request.system_prompt)
                args += ["--append-system-prompt-file", str(prompt_file)]
        if request.mcp_servers:
            args += ["--mcp-config", mcp_config(request.mcp_servers)]
        if options.get("allowed_tools"):
            args += ["--allowedTools", _tool_list(options["allowed_tools"], "allowed_tools")]
        if options.get("disallowed_tools"):
            args += ["--disallowedTools", _tool_list(options["disallowed_tools"], "disallowed_tools")]
        if options.get("max_budget_usd") is not None:
            args += ["--max-budget-usd", str(float(options["max_budget_usd"]))]
        return args

    async def _attempt(
        self, binary: str, request: RunRequest, env: dict[str, str], *, resume: str | None
    ) -> AsyncIterator[Emitted]:
        prompt = request.prompt if resume else transcript_prompt(request)
        with tempfile.TemporaryDirectory(prefix="wegent-claude-") as scratch:
            args = self._args(binary, request, resume, Path(scratch))
            self.workdir.mkdir(parents=True, exist_ok=True)
            log.info(
                "claude_start",
                binary=binary,
                workdir=str(self.workdir),
                resume=bool(resume),
                session_id=self.session_id,
                permission_mode=args[args.index("--permission-mode") + 1],
            )
            proc = await asyncio.create_subprocess_exec(
                *args,
                cwd=str(self.workdir),
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=MAX_LINE_BYTES,
            )
            stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
            drain = asyncio.create_task(_collect(proc.stderr, stderr_tail))
            lingering: set[int] = set()
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(prompt.encode())
                with contextlib.suppress(ConnectionError):
                    await proc.stdin.drain()
                proc.stdin.close()
                done: Emitted | None = None
                async for item in self._translate(proc.stdout, request, resume):
                    if item.type == EventType.DONE:
                        # The CLI is about to exit: note where its tools run while they are still its children.
                        lingering |= _tree_groups(proc.pid)
                        done = item
                    else:
                        yield item
                # ``done`` waits for the CLI to exit: it is still writing the session a follow-up resumes, and
                # the reader stops listening (and we kill what is left) at the terminal event.
                code = await _wait(proc, EXIT_WAIT_SECONDS)
                if done is not None:
                    yield done
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(drain), 2.0)
                    tail = redact(" | ".join(stderr_tail), request.model.api_key)[-2000:]
                    if resume and "No conversation found" in tail:
                        raise SessionMissing(resume)
                    raise RunFailed(
                        f"claude exited with code {code} before reporting a result: {tail or 'no output'}",
                        code="runtime_error",
                        retryable=False,
                    )
            finally:
                await _terminate_group(proc, lingering)
                drain.cancel()
                log.info("claude_exit", returncode=proc.returncode, session_id=self.session_id)

    async def _translate(
        self, stdout: asyncio.StreamReader, request: RunRequest, resume: str | None
    ) -> AsyncIterator[Emitted]:
        api_key = request.model.api_key
        while True:
            try:
                raw = await stdout.readline()
            except ValueError as exc:  # a line over MAX_LINE_BYTES
                raise RunFailed(f"claude output line too long: {exc}", code="runtime_error", retryable=False) from exc
            if not raw:
                return
            try:
                line = json.loads(raw)
            except ValueError:
                log.debug("claude_non_json_line", size=len(raw))
                continue
            if not isinstance(line, dict):
                continue
            kind = line.get("type")
            if line.get("session_id") and kind in ("system", "result"):
                self.session_id = str(line["session_id"])
            if kind == "system":
                if line.get("subtype") == "api_retry" and line.get("error_status") in (401, 403):
                    # The CLI would retry a rejected key for minutes; it will not start working.
                    raise RunFailed(
                        f"claude: the model endpoint rejected the credentials "
                        f"(HTTP {line['error_status']}, {line.get('error') or 'authentication failed'})",
                        code="model_auth",
                        retryable=False,
                    )
                if line.get("subtype") == "init":
                    log.info("claude_session", session_id=self.session_id, model=line.get("model"))
            elif kind == "stream_event":
                if line.get("parent_tool_use_id"):
                    continue  # a sub-agent's output is not the answer
                event = line.get("event") or {}
                delta = event.get("delta") or {}
                if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
                    if delta.get("text"):
                        yield Emitted(EventType.TEXT, {"delta": delta["text"]})
            elif kind == "assistant":
                message = line.get("message") or {}
                if message.get("model") == "<synthetic>":
                    continue  # the CLI's own rendering of an API error; the result reports it
                for block in message.get("content") or []:
                    if isinstance(block, dict) and block.get("type") == "tool_use":
                        data = {"id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
                        if line.get("parent_tool_use_id"):
                            data["parent_id"] = line["parent_tool_use_id"]
                        yield Emitted(EventType.TOOL_CALL, data)
            elif kind == "user":
                content = (line.get("message") or {}).get("content")
                for block in content if isinstance(content, list) else []:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        yield Emitted(
                            EventType.TOOL_RESULT,
                            {
                                "id": block.get("tool_use_id"),
                                "output": redact(tool_output(block.get("content")), api_key),
                                "is_error": bool(block.get("is_error")),
                            },
                        )
            elif kind == "result":
                if line.get("is_error") or line.get("subtype") != "success":
                    errors = " ".join(str(e) for e in line.get("errors") or [])
                    if resume and "No conversation found" in errors:
                        raise SessionMissing(resume)
                    raise result_failure(line, api_key)
                usage = result_usage(line)
                yield Emitted(EventType.USAGE, usage.model_dump())
                done: dict[str, Any] = {
                    "output": str(line.get("result") or ""),
                    "usage": usage.model_dump(),
                    "session_id": self.session_id,
                    "num_turns": line.get("num_turns"),
                }
                if line.get("total_cost_usd") is not None:
                    done["cost_usd"] = line["total_cost_usd"]
                yield Emitted(EventType.DONE, done)
                return


async def _collect(stream: asyncio.StreamReader | None, tail: deque[str]) -> None:
    if stream is None:
        return
    while True:
        try:
            raw = await stream.readline()
        except ValueError:
            continue
        if not raw:
            return
        text = raw.decode("utf-8", "replace").strip()
        if text:
            tail.append(text[:500])


async def _wait(proc: asyncio.subprocess.Process, seconds: float) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), seconds)
    except TimeoutError:
        return None


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    if pgid <= 1 or pgid == os.getpgrp():  # never our own group (or init's)
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) for every process we can see (Linux /proc)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def _tree_groups(root: int) -> set[int]:
    """Process groups of ``root`` and all its descendants: the CLI starts tools in groups of their own."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    groups, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            groups.add(table[child][1])
            stack.append(child)
    return groups


async def _terminate_group(proc: asyncio.subprocess.Process, known: set[int] | None = None) -> None:
    """SIGTERM the CLI and every process group its tools run in, SIGKILL what is left after the grace period.

    The groups are collected while the CLI still lives: once it dies its children are re-parented and can no
    longer be told apart from anyone else's.
    """
    groups = (_tree_groups(proc.pid) if proc.returncode is None else {proc.pid}) | (known or set())
    if proc.returncode is None:
        for group in groups:
            _signal_group(group, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), TERMINATE_GRACE_SECONDS)
    if proc.returncode is None:
        groups |= _tree_groups(proc.pid)
    # Also after a clean exit: whatever the agent left running in the background goes with the run.
    for group in groups:
        _signal_group(group, signal.SIGKILL)
    if proc.returncode is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), TERMINATE_GRACE_SECONDS)
