"""Token counts of one model call, read from what the provider sends back (a stream or one document).

The provider's own usage figures count when it reports them. Text is also counted as it flows (about four
characters a token), which is what a budget is checked against mid-stream, and what is recorded when a stream
is stopped before the provider reported its usage (or a provider never reports any).
"""

from __future__ import annotations

import json
from typing import Any

from activities.gateway.routes import ANTHROPIC, DIFY, family

CHARS_PER_TOKEN = 4


def _int(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


class Meter:
    def __init__(self, provider: str, request_chars: int) -> None:
        self.kind = family(provider)
        self.request_chars = request_chars
        self.input_tokens = 0  # as reported by the provider
        self.output_tokens = 0
        self.reported = False
        self.text_chars = 0  # generated text (answers, tool arguments) seen so far
        self._pending = b""
        self.recorded = False  # set once its usage is written, so it is written once
        self.finished = False  # the provider's last event (after its usage) has been seen

    # ------------------------------------------------------------------------------------------ input
    def feed(self, chunk: bytes) -> None:
        """Bytes of a server-sent event stream, split anywhere."""
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            line = line.strip()
            if line.startswith(b"data:"):
                self._data(line[5:].strip())

    def feed_document(self, body: bytes) -> None:
        """A whole (non-streaming) response body."""
        try:
            document = json.loads(body)
        except ValueError:
            return
        if isinstance(document, dict):
            self._event(document)

    def _data(self, raw: bytes) -> None:
        if raw == b"[DONE]":
            self.finished = True
        if not raw or raw == b"[DONE]":
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            return
        if isinstance(payload, dict):
            self._event(payload)

    # ---------------------------------------------------------------------------------------- parsing
    def _event(self, payload: dict[str, Any]) -> None:
        if self.kind == ANTHROPIC:
            self._anthropic(payload)
        elif self.kind == DIFY:
            self._dify(payload)
        else:
            self._openai(payload)

    def _report(self, input_tokens: int | None, output_tokens: int | None) -> None:
        self.reported = True
        if input_tokens is not None:
            self.input_tokens = max(self.input_tokens, input_tokens)
        if output_tokens is not None:
            self.output_tokens = max(self.output_tokens, output_tokens)

    def _openai(self, payload: dict[str, Any]) -> None:
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._report(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
        for choice in payload.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if not isinstance(delta, dict):
                continue
            self._text(delta.get("content"))
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    self._text((call.get("function") or {}).get("arguments"))

    def _anthropic(self, payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        usage = (payload.get("message") or {}).get("usage") if kind == "message_start" else payload.get("usage")
        if isinstance(usage, dict):
            keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            reported_input = sum(_int(usage.get(k)) for k in keys)
            output = usage.get("output_tokens")
            self._report(reported_input or None, _int(output) if output is not None else None)
        if kind == "message_stop":
            self.finished = True
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            for field in ("text", "partial_json", "thinking"):
                self._text(delta.get(field))
        elif kind == "message" or payload.get("content"):  # a whole (non-streaming) message
            for block in payload.get("content") or []:
                if isinstance(block, dict):
                    self._text(block.get("text"))

    def _dify(self, payload: dict[str, Any]) -> None:
        event = payload.get("event")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        usage = (payload.get("metadata") or {}).get("usage") if isinstance(payload.get("metadata"), dict) else None
        if isinstance(usage, dict):
            self._report(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
        elif event == "workflow_finished" or (event is None and data.get("total_tokens") is not None):
            # Workflows report one total; counted as output, as the Dify runtime does.
            self._report(0, _int(data.get("total_tokens")))
        if event in ("message_end", "workflow_finished"):
            self.finished = True
        if event in ("message", "agent_message") or event is None:
            self._text(payload.get("answer"))
        elif event == "text_chunk":
            self._text(data.get("text"))

    def _text(self, value: Any) -> None:
        if isinstance(value, str):
            self.text_chars += len(value)

    # ----------------------------------------------------------------------------------------- output
    def live_tokens(self) -> int:
        """Tokens this call has used so far, for the budget check while it streams."""
        estimated = -(-self.text_chars // CHARS_PER_TOKEN)
        return self.input_tokens + max(self.output_tokens, estimated)

    def totals(self, complete: bool) -> tuple[int, int]:
        """(input, output) to record: the provider's figures, estimates where a stopped stream lacks them."""
        estimated_out = -(-self.text_chars // CHARS_PER_TOKEN)
        if self.reported and complete:
            return self.input_tokens, self.output_tokens
        estimated_in = -(-self.request_chars // CHARS_PER_TOKEN)
        return max(self.input_tokens, estimated_in if not self.input_tokens else 0), max(
            self.output_tokens, estimated_out
        )
