"""How the ``claude`` CLI is found and set up for a run: its binary, environment, model roles, permission mode,
MCP servers and prompt, and how its stream-json results read (tool output, usage, failures)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from executor.runtimes.base import RunFailed
from executor.runtimes.model_errors import redact
from wegent.events import Usage
from wegent.executor_api import ModelConfig, RunRequest

CLAUDE_BIN_ENV = "WEGENT_CLAUDE_BIN"
CONFIG_DIR_ENV = "WEGENT_CLAUDE_CONFIG_DIR"
PROVIDERS = frozenset({"anthropic", "claude"})
PERMISSION_MODES = frozenset({"acceptEdits", "bypassPermissions", "default", "dontAsk", "plan", "auto"})
DEFAULT_MAX_RETRIES = 4
MAX_TOOL_OUTPUT_CHARS = 20_000
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


def tool_list(value: Any, name: str) -> str:
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


def is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
