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
import tempfile
import uuid
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from executor.runtimes.base import Emitted, RunFailed, Runtime
from executor.runtimes.claude_cli import (
    PROVIDERS,
    cli_env,
    find_claude,
    is_uuid,
    mcp_config,
    permission_mode,
    result_failure,
    result_usage,
    tool_list,
    tool_output,
    transcript_prompt,
)
from executor.runtimes.model_errors import redact
from executor.runtimes.process_groups import collect_lines, terminate_tree, tree_groups, wait_exit
from wegent.events import EventType
from wegent.executor_api import RunRequest

log = structlog.get_logger(__name__)

EXIT_WAIT_SECONDS = 15.0
MAX_LINE_BYTES = 64 * 1024 * 1024  # a tool result (a whole file read) arrives as one JSON line
MAX_ARG_PROMPT_BYTES = 100_000  # below Linux's 128 KiB per-argument limit
STDERR_TAIL_LINES = 40


class SessionMissing(Exception):
    """``--resume`` named a session the CLI does not have."""


class ClaudeCodeRuntime(Runtime):
    async def run(self, request: RunRequest) -> AsyncIterator[Emitted]:
        # Only a CLI session id (a UUID) can be resumed; anything else (say, a Chat run's id from before the
        # bot's shell changed) starts a new session that is told the conversation so far.
        resume = request.session_id if is_uuid(request.session_id) else None
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
            args += ["--allowedTools", tool_list(options["allowed_tools"], "allowed_tools")]
        if options.get("disallowed_tools"):
            args += ["--disallowedTools", tool_list(options["disallowed_tools"], "disallowed_tools")]
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
            drain = asyncio.create_task(collect_lines(proc.stderr, stderr_tail))
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
                        lingering |= tree_groups(proc.pid)
                        done = item
                    else:
                        yield item
                # ``done`` waits for the CLI to exit: it is still writing the session a follow-up resumes, and
                # the reader stops listening (and we kill what is left) at the terminal event.
                code = await wait_exit(proc, EXIT_WAIT_SECONDS)
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
                await terminate_tree(proc, lingering)
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
