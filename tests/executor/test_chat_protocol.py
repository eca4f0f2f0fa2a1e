"""Unit checks of the pure protocol helpers: URL building, SSE framing, error classification."""

from __future__ import annotations

import httpx
import pytest

from executor.runtimes.anthropic_messages import messages_url, split_system
from executor.runtimes.model_errors import status_failure
from executor.runtimes.openai_chat import chat_completions_url
from executor.runtimes.sse import SseMessage, iter_sse


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com", "https://api.openai.com/v1/chat/completions"),
        ("http://host:8000/v1/chat/completions", "http://host:8000/v1/chat/completions"),
        ("https://ark.example.com/api/v3", "https://ark.example.com/api/v3/chat/completions"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
    ],
)
def test_openai_url(base_url: str, expected: str) -> None:
    assert chat_completions_url(base_url) == expected


@pytest.mark.parametrize(
    "base_url", ["https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1"]
)
def test_anthropic_url(base_url: str) -> None:
    assert messages_url(base_url) == "https://api.anthropic.com/v1/messages"


def test_split_system_merges_roles_for_anthropic() -> None:
    system, turns = split_system(
        [
            {"role": "system", "content": "a"},
            {"role": "user", "content": "u1"},
            {"role": "user", "content": "u2"},
            {"role": "assistant", "content": "x"},
            {"role": "system", "content": "b"},
            {"role": "user", "content": "u3"},
        ]
    )
    assert system == "a\n\nb"
    assert turns == [
        {"role": "user", "content": "u1\n\nu2"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "u3"},
    ]


async def test_sse_parser_handles_events_comments_and_missing_final_blank_line() -> None:
    raw = b": keep-alive\n\nevent: a\ndata: 1\ndata: 2\n\ndata:no-space\n\ndata: last"
    response = httpx.Response(200, content=raw)
    assert [m async for m in iter_sse(response)] == [
        SseMessage("a", "1\n2"),
        SseMessage("message", "no-space"),
        SseMessage("message", "last"),
    ]


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, "model_config", False),
        (401, "model_auth", False),
        (403, "model_auth", False),
        (404, "model_config", False),
        (422, "model_config", False),
        (402, "model_error", False),
        (408, "model_unavailable", True),
        (429, "model_rate_limited", True),
        (500, "model_unavailable", True),
        (529, "model_unavailable", True),
    ],
)
def test_status_classification(status: int, code: str, retryable: bool) -> None:
    body = b'{"error": {"message": "bad key sk-secret-1"}}'
    failure = status_failure("openai", status, body, "https://x/v1/chat/completions", "sk-secret-1")
    assert (failure.code, failure.retryable) == (code, retryable)
    assert f"HTTP {status}" in failure.message and "bad key ***" in failure.message
    assert "sk-secret-1" not in failure.message
