"""The message list a chat-style model sees: system prompt, prior turns, then the new user prompt."""

from __future__ import annotations

from wegent.executor_api import RunRequest


def conversation(request: RunRequest) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    messages.extend({"role": m.role, "content": m.content} for m in request.history)
    messages.append({"role": "user", "content": request.prompt})
    return messages
