"""The live chat protocol: one definition of the Socket.IO namespace, rooms and event names.

The API's chat namespace, the worker's relay, the CLI and the web app (`web/src/client/realtime.ts`, generated
from this module by `scripts/gen_web_client.sh`) all speak it. What each event carries is a pydantic model in
`wegent/realtime_payloads.py` (the README's "Live chat (Socket.IO)" section describes them).
"""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "/chat"


def task_room(task_id: int) -> str:
    """Everyone watching one task: its stream, tool calls and state."""
    return f"task:{task_id}"


def user_room(user_id: int) -> str:
    """Every connection of one user: their task list changes."""
    return f"user:{user_id}"


class ClientEvent(StrEnum):
    """What a client asks; every one is answered with an ack (`{"ok": true, …}` or `{"ok": false, "error": …}`)."""

    TASK_JOIN = "task:join"
    TASK_LEAVE = "task:leave"
    HISTORY_SYNC = "history:sync"
    CHAT_SEND = "chat:send"
    CHAT_RESUME = "chat:resume"
    CHAT_CANCEL = "chat:cancel"


class ServerEvent(StrEnum):
    """What the server pushes into a task's room (chat:*, task:status) or a user's room (task:*), or to one socket."""

    CHAT_START = "chat:start"
    CHAT_CHUNK = "chat:chunk"
    CHAT_TOOL = "chat:tool"
    CHAT_MESSAGE = "chat:message"
    CHAT_DONE = "chat:done"
    CHAT_ERROR = "chat:error"
    CHAT_CANCELLED = "chat:cancelled"
    TASK_STATUS = "task:status"
    TASK_CREATED = "task:created"
    AUTH_ERROR = "auth:error"
