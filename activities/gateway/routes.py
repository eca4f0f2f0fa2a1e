"""What the gateway forwards: per provider, the few API paths an executor may call, where they go upstream, and
how the provider's own clients expect an error to look (so every runtime reports the gateway's refusals clearly).

Only the calls a runtime makes are forwarded, never an arbitrary path: the real key must not become a way to
list files, manage an account or call any other endpoint of the provider.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from executor.runtimes.anthropic_messages import messages_url
from executor.runtimes.dify import api_root
from executor.runtimes.openai_chat import chat_completions_url

OPENAI, ANTHROPIC, DIFY = "openai", "anthropic", "dify"
_DIFY_PATHS = re.compile(
    r"^(chat-messages|completion-messages|workflows/run"
    r"|(chat-messages|completion-messages)/[A-Za-z0-9_-]{1,100}/stop|workflows/tasks/[A-Za-z0-9_-]{1,100}/stop)$"
)
# Request headers worth passing on; everything else (the client's auth above all) stays behind.
FORWARDED_HEADERS = ("content-type", "accept", "anthropic-version", "anthropic-beta")
# The Model's baseUrl as a sandbox would have named the worker host; the gateway runs on that host itself.
_HOST_ALIASES = ("host.docker.internal",)


def family(provider: str) -> str:
    provider = provider.lower()
    if provider in ("anthropic", "claude"):
        return ANTHROPIC
    return DIFY if provider == DIFY else OPENAI


@dataclass(frozen=True)
class Upstream:
    url: str
    auth: dict[str, str]


def _local(url: str) -> str:
    parts = urlsplit(url)
    if (parts.hostname or "").lower() not in _HOST_ALIASES:
        return url
    netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def upstream(provider: str, base_url: str, api_key: str, path: str) -> Upstream | None:
    """Where ``POST <gateway>/v1/<path>`` goes for this Model, or None when the path is not one we forward."""
    kind = family(provider)
    if kind == OPENAI and path == "chat/completions":
        url = chat_completions_url(base_url)
    elif kind == ANTHROPIC and path in ("messages", "messages/count_tokens"):
        url = messages_url(base_url) + path.removeprefix("messages")
    elif kind == DIFY and _DIFY_PATHS.match(path):
        url = f"{api_root(base_url)}/{path}"
    else:
        return None
    auth: dict[str, str] = {}
    if api_key:
        auth = {"x-api-key": api_key} if kind == ANTHROPIC else {"Authorization": f"Bearer {api_key}"}
    return Upstream(url=_local(url), auth=auth)


def error_body(provider: str, status: int, kind: str, message: str) -> dict[str, object]:
    """An error document in the provider's own shape, so its SDK surfaces ``message`` as it would upstream's."""
    family_ = family(provider)
    if family_ == ANTHROPIC:
        return {"type": "error", "error": {"type": kind, "message": message}}
    if family_ == DIFY:
        return {"code": kind, "message": message, "status": status}
    return {"error": {"message": message, "type": kind, "code": kind}}


def error_frame(provider: str, kind: str, message: str) -> bytes:
    """The same error as one server-sent event, sent before the gateway closes a stream it stops."""
    family_ = family(provider)
    if family_ == ANTHROPIC:
        body = error_body(provider, 403, kind, message)
        return b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"
    if family_ == DIFY:
        body = {"event": "error", "code": kind, "message": message, "status": 403}
        return b"data: " + json.dumps(body).encode() + b"\n\n"
    return b"data: " + json.dumps(error_body(provider, 403, kind, message)).encode() + b"\n\n"
