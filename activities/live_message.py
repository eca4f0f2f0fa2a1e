"""The chat events of one assistant message, as a step's run streams: start, text chunks, tools, the end.

Every event names the message it belongs to (task, message, turn, step, bot, attempt, run): the payload
models in wegent/realtime_payloads.py get those fields from here, and the caller adds the event's own. Text
goes through the coalescer; any other event first flushes the text held back, so it keeps its place in the
order. Offsets are the run's event sequence numbers.
"""

from __future__ import annotations

import time
from typing import Any

from activities.coalesce import TextCoalescer
from activities.context import WorkerContext
from wegent import metrics
from wegent.events import EventType, RunEvent
from wegent.realtime_payloads import AnswerEvent, ChatChunk, ChatTool
from workflows.models import AgentStepInput


class LiveMessage:
    """Chat events for one assistant message; offsets are the run's event sequence numbers."""

    def __init__(
        self,
        ctx: WorkerContext,
        step: AgentStepInput,
        message_id: int,
        run_id: str,
        started: float | None = None,
        window: float = 0.0,
    ) -> None:
        self.ctx, self.step, self.message_id, self.run_id = ctx, step, message_id, run_id
        self.started = started  # monotonic start of the step, for the first-token latency
        self.tools: list[dict[str, Any]] = []  # tool calls and results relayed, stored with the message
        self.text = TextCoalescer(self._send_chunk, window)
        self.seen = 0  # the last sequence number handed to relay()

    @property
    def settled(self) -> int:
        """The sequence number up to which every event is published: the re-attach point to heartbeat."""
        held = self.text.held_from
        return self.seen if held is None else held - 1

    async def _send_chunk(self, first: int, last: int, text: str) -> None:
        # `offset` is the last sequence number covered (what clients compare and resume from), `from_offset` the
        # first; the content is the text of every delta in between, in order.
        await self.emit(ChatChunk, dedup=("seq", last), offset=last, from_offset=first, content=text)

    async def emit(self, event: type[AnswerEvent], dedup: tuple[str, int] | None = None, **fields: Any) -> None:
        """Publish an `event` (its payload model) about this message with the event's own `fields`."""
        if event is not ChatChunk:
            await self.text.flush()  # held text goes first: every other event keeps its place in the order
        step = self.step
        payload = event(
            task_id=step.task_id,
            message_id=self.message_id,
            turn=step.turn,
            step=step.step,
            bot=step.bot,
            attempt=step.attempt,
            run_id=self.run_id,
            **fields,
        )
        key = (f"{self.message_id}:{self.run_id}:{dedup[0]}", dedup[1]) if dedup else None
        await self.ctx.relay.publish(step.task_id, payload, key)

    async def relay(self, event: RunEvent) -> None:
        if event.type == EventType.TEXT:
            if self.started is not None:
                metrics.FIRST_TOKEN_SECONDS.labels(shell=self.step.shell_type).observe(time.monotonic() - self.started)
                self.started = None
            await self.text.text(event.seq, event.data.get("delta", ""))
        else:
            await self.text.flush()
        self.seen = event.seq
        if event.type in (EventType.TOOL_CALL, EventType.TOOL_RESULT):
            self.tools.append({"kind": event.type.value, **event.data})
            tool = {"offset": event.seq, "kind": event.type.value, "data": event.data}
            await self.emit(ChatTool, dedup=("seq", event.seq), **tool)
