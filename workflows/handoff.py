"""How one pipeline stage's input is built from the original request and the previous stage's output."""

from __future__ import annotations

NO_CONTEXT_INPUT = "Proceed with your part of the task."


def stage_input(context_passing: str, original: str, previous: str | None) -> str:
    """The first stage always gets the request; later stages get what their member's `contextPassing` says."""
    if previous is None:
        return original
    if context_passing == "none":
        return NO_CONTEXT_INPUT
    if context_passing == "original":
        return original
    if context_passing == "both":
        return f"Original request:\n{original}\n\nOutput of the previous stage:\n{previous}"
    return previous
