"""What the model gateway forwards and how it reads usage from each provider's wire format (split anywhere)."""

from __future__ import annotations

import json

import pytest

from activities.gateway.meter import Meter
from activities.gateway.routes import upstream


def _sse(*payloads: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return b"".join(head + b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)


def _feed_in_pieces(meter: Meter, raw: bytes, size: int = 7) -> None:
    for start in range(0, len(raw), size):
        meter.feed(raw[start : start + size])


def test_openai_stream_usage_and_end() -> None:
    meter = Meter("openai", 400)
    raw = _sse(
        {"choices": [{"delta": {"content": "hello there"}}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}},
    )
    _feed_in_pieces(meter, raw + b"data: [DONE]\n\n")
    assert meter.finished and meter.totals(complete=True) == (12, 3)


def test_anthropic_stream_usage_counts_cached_input_and_cumulative_output() -> None:
    meter = Meter("anthropic", 400)
    raw = _sse(
        {"type": "message_start", "message": {"usage": {"input_tokens": 5, "cache_read_input_tokens": 20}}},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "abcdefgh"}},
        {"type": "message_delta", "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )
    _feed_in_pieces(meter, raw)
    assert meter.finished and meter.totals(complete=True) == (25, 9)


def test_dify_chat_and_workflow_usage() -> None:
    chat = Meter("dify", 40)
    _feed_in_pieces(
        chat,
        _sse(
            {"event": "message", "answer": "hi"},
            {"event": "message_end", "metadata": {"usage": {"prompt_tokens": 4, "completion_tokens": 2}}},
        ),
    )
    assert chat.finished and chat.totals(complete=True) == (4, 2)
    flow = Meter("dify", 40)
    _feed_in_pieces(flow, _sse({"event": "workflow_finished", "data": {"total_tokens": 17, "status": "succeeded"}}))
    assert flow.totals(complete=True) == (0, 17)


def test_a_stopped_stream_counts_what_flowed() -> None:
    meter = Meter("openai", 80)  # about 20 prompt tokens
    _feed_in_pieces(meter, _sse({"choices": [{"delta": {"content": "x" * 40}}]}))
    assert meter.live_tokens() == 10
    assert meter.totals(complete=False) == (20, 10)


@pytest.mark.parametrize(
    ("provider", "base", "path", "expected"),
    [
        ("openai", "https://api.example.com/v1", "chat/completions", "https://api.example.com/v1/chat/completions"),
        ("anthropic", "https://a.example.com", "messages", "https://a.example.com/v1/messages"),
        (
            "anthropic",
            "https://a.example.com/v1",
            "messages/count_tokens",
            "https://a.example.com/v1/messages/count_tokens",
        ),
        (
            "dify",
            "https://d.example.com",
            "chat-messages/abc-1/stop",
            "https://d.example.com/v1/chat-messages/abc-1/stop",
        ),
        (
            "openai",
            "http://host.docker.internal:9000/v1",
            "chat/completions",
            "http://127.0.0.1:9000/v1/chat/completions",
        ),
    ],
)
def test_forwarded_paths(provider: str, base: str, path: str, expected: str) -> None:
    target = upstream(provider, base, "real-key", path)
    assert target is not None and target.url == expected
    assert "real-key" in next(iter(target.auth.values()))


@pytest.mark.parametrize(
    ("provider", "path"),
    [("openai", "files"), ("openai", "messages"), ("anthropic", "chat/completions"), ("dify", "apps/annotations")],
)
def test_other_paths_are_not_forwarded(provider: str, path: str) -> None:
    assert upstream(provider, "https://x.example.com/v1", "real-key", path) is None
