"""Wire contract between the worker's activities and the executor HTTP server inside a sandbox.

Endpoints (all but /health need ``Authorization: Bearer <EXECUTOR_TOKEN>``):

- ``GET  /health``                      -> ``{"status": "ok", "runs": <active runs>}``
- ``POST /runs``  (``RunRequest``)      -> ``RunStatus``; idempotent on ``run_id``: posting an existing id
  returns that run untouched, which lets a retried activity re-attach instead of calling the model again
- ``GET  /runs/{id}``                   -> ``RunStatus``
- ``GET  /runs/{id}/events?after=N``    -> NDJSON stream of ``RunEvent`` with ``seq > N``; ends after the
  terminal event (done, error, cancelled)
- ``POST /runs/{id}/cancel``            -> ``RunStatus``; the runtime's work stops (HTTP stream closed,
  subprocess group killed)
- ``POST /workspace`` (``WorkspaceRequest``) -> ``WorkspaceStatus``; clones the repository into the executor's
  working directory. Idempotent: an existing clone of the same repository just reports its status (a different
  repository is a 409). A failed clone is a 422 whose detail is git's message without any credential.
- ``GET  /workspace?max_diff_bytes=N``  -> ``WorkspaceStatus``: branch, head, porcelain status and the diff of
  the working tree (untracked files included) against the commit that was cloned
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ModelConfig(BaseModel):
    provider: str = "openai"  # openai (compatible), anthropic, dify
    base_url: str  # the worker host's model gateway, never the provider itself
    model: str = ""
    api_key: str = ""  # the gateway key of this task and step (never the Model's key); not in Temporal history
    temperature: float | None = None
    max_tokens: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class HistoryMessage(BaseModel):
    role: str  # user | assistant | system
    content: str


class RunRequest(BaseModel):
    run_id: str = Field(min_length=1, max_length=200)
    runtime: str = "Chat"  # Chat | Agno | ClaudeCode | Dify
    model: ModelConfig
    system_prompt: str = ""
    prompt: str
    history: list[HistoryMessage] = Field(default_factory=list)
    session_id: str | None = None
    mcp_servers: dict[str, Any] = Field(default_factory=dict)
    workdir: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class WorkspaceRequest(BaseModel):
    git_url: str = Field(min_length=1, max_length=2000)  # http(s), ssh, git or scp-like user@host:path
    branch: str | None = None  # None: the remote's default branch
    depth: int = Field(1, ge=0)  # 0: full history
    # HTTP credentials, used for this clone only: never written to .git/config, logged or echoed back.
    token: str | None = Field(default=None, repr=False)
    username: str | None = None  # the user name sent with the token (default "x-access-token")
    timeout: float = Field(600.0, gt=0, le=3600)  # seconds the clone may take


class WorkspaceStatus(BaseModel):
    cloned: bool
    path: str
    git_url: str | None = None  # without credentials
    branch: str | None = None  # None when HEAD is detached
    head: str | None = None
    base: str | None = None  # the commit that was cloned; diffs are taken against it
    status: str = ""  # git status --porcelain
    diff_stat: str = ""
    diff: str = ""
    diff_truncated: bool = False


class RunState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"


class RunStatus(BaseModel):
    run_id: str
    state: RunState
    last_seq: int = 0
    session_id: str | None = None
