"""Coalescing of a message's text deltas into fewer `chat:chunk` events.

A model streams tens of deltas a second; sent one by one, each is a Redis append, a publish and one
websocket frame per viewer. Here the first delta goes out at once (first-token latency is never traded
away); deltas arriving within the next window are joined and sent when the window ends, as one chunk that
names the offset range it covers (`from_offset`..`offset`, the executor's sequence numbers). Anything that
is not text (tool calls, results, the end of the message) first flushes what is held, so it is never
delayed and keeps its place in the order.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable

# (first seq, last seq, text): publishes one chat:chunk covering that range.
SendChunk = Callable[[int, int, str], Awaitable[None]]


class TextCoalescer:
    def __init__(self, send: SendChunk, window_seconds: float) -> None:
        self._send = send
        self.window = window_seconds
        self._parts: list[str] = []
        self._first = 0
        self._last = 0
        self._sent_at = -math.inf
        self._timer: asyncio.Task[None] | None = None
        # The timer's flush and the relay loop both publish: one at a time, so chunks keep their order.
        self._lock = asyncio.Lock()

    @property
    def held_from(self) -> int | None:
        """The first sequence number held back (not published yet), or None when nothing is held."""
        return self._first if self._parts else None

    async def text(self, seq: int, delta: str) -> None:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if not self._parts and (self.window <= 0 or now - self._sent_at >= self.window):
                await self._publish(seq, seq, delta, now)  # leading edge: nothing was sent this window
                return
            if not self._parts:
                self._first = seq
            self._parts.append(delta)
            self._last = seq
            if self._timer is None:
                self._timer = asyncio.create_task(self._flush_later(self._sent_at + self.window - now))

    async def flush(self) -> None:
        """Publish what is held now (before any other event of the message)."""
        async with self._lock:
            await self._flush_held()

    async def close(self) -> None:
        """Stop the timer without publishing (the step was cancelled or failed; the caller decides)."""
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _flush_later(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        async with self._lock:
            self._timer = None
            await self._flush_held()

    async def _flush_held(self) -> None:
        if not self._parts:
            return
        text, first, last = "".join(self._parts), self._first, self._last
        self._parts = []
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        await self._publish(first, last, text, asyncio.get_running_loop().time())

    async def _publish(self, first: int, last: int, text: str, now: float) -> None:
        self._sent_at = now
        await self._send(first, last, text)
