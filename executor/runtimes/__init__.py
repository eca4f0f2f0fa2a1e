"""Runtimes by the shell type a Bot names: ``Chat``, ``Agno``, ``Dify`` (``ClaudeCode`` is added separately)."""

from __future__ import annotations

from executor.runtimes.agno_agent import AgnoRuntime
from executor.runtimes.base import Emitted, RunFailed, Runtime
from executor.runtimes.chat import ChatRuntime
from executor.runtimes.claude_code import ClaudeCodeRuntime
from executor.runtimes.dify import DifyRuntime

RUNTIMES: dict[str, type[Runtime]] = {
    "Chat": ChatRuntime,
    "Agno": AgnoRuntime,
    "Dify": DifyRuntime,
    "ClaudeCode": ClaudeCodeRuntime,
}


def runtime_class(name: str) -> type[Runtime]:
    """Look a runtime up by shell type; case-insensitive because shell types come from user-written YAML."""
    for registered, cls in RUNTIMES.items():
        if registered.lower() == name.lower():
            return cls
    known = ", ".join(sorted(RUNTIMES))
    raise RunFailed(
        f"unknown runtime {name!r}; this executor supports: {known}", code="runtime_unknown", retryable=False
    )


__all__ = ["RUNTIMES", "AgnoRuntime", "ChatRuntime", "DifyRuntime", "Emitted", "RunFailed", "Runtime", "runtime_class"]
