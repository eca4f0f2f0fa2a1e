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
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ModelConfig(BaseModel):
    provider: str = "openai"  # openai (compatible), anthropic, dify
    base_url: str
    model: str = ""
    api_key: str = ""  # decrypted just before the call; never stored in Temporal history
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
