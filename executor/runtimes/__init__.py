"""Runtimes by the shell type a Bot names: ``Chat`` today; ``Agno``, ``ClaudeCode``, ``Dify`` later."""

from __future__ import annotations

from executor.runtimes.base import Emitted, RunFailed, Runtime
from executor.runtimes.chat import ChatRuntime

RUNTIMES: dict[str, type[Runtime]] = {
    "Chat": ChatRuntime,
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


__all__ = ["RUNTIMES", "ChatRuntime", "Emitted", "RunFailed", "Runtime", "runtime_class"]
