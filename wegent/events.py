"""The event schema every agent runtime emits and every consumer reads.

An executor run produces a totally ordered list of events; ``seq`` starts at 1 and grows by one per event, so
a reader can resume with ``after=<last seq seen>`` and never see an event twice.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class EventType(StrEnum):
    START = "start"  # data: {run_id, session_id}
    TEXT = "text"  # data: {delta}
    TOOL_CALL = "tool_call"  # data: {id, name, arguments}
    TOOL_RESULT = "tool_result"  # data: {id, output, is_error}
    USAGE = "usage"  # data: {input_tokens, output_tokens}
    DONE = "done"  # data: {output, usage, session_id}
    ERROR = "error"  # data: {message, code, retryable}
    CANCELLED = "cancelled"  # data: {reason}


TERMINAL_EVENTS = frozenset({EventType.DONE, EventType.ERROR, EventType.CANCELLED})


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class RunEvent(BaseModel):
    seq: int = Field(ge=1)
    type: EventType
    data: dict[str, Any] = Field(default_factory=dict)
    ts: float = Field(default_factory=time.time)

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS
