"""In-memory runs: each is an asyncio task feeding an append-only event list that readers follow.

Readers never consume events, they index into the list, so a reader that reconnects with ``after=N`` sees
exactly the events it missed and nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog

from executor.runtimes import RunFailed, Runtime, runtime_class
from wegent.events import EventType, RunEvent
from wegent.executor_api import RunRequest, RunState, RunStatus

log = structlog.get_logger(__name__)

_TERMINAL_STATES = {
    EventType.DONE: RunState.DONE,
    EventType.ERROR: RunState.ERROR,
    EventType.CANCELLED: RunState.CANCELLED,
}
# How long a cancel waits for the runtime to unwind before declaring the run cancelled anyway.
CANCEL_GRACE_SECONDS = 10.0


class Run:
    def __init__(self, request: RunRequest, runtime: Runtime | None, rejection: RunFailed | None = None) -> None:
        self.request = request
        self.runtime = runtime
        # Set when the request cannot run at all (e.g. unknown runtime); the run then only reports why.
        self.rejection = rejection
        self.events: list[RunEvent] = []
        self.state = RunState.RUNNING
        self.cancel_reason = ""
        self._changed = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    @property
    def run_id(self) -> str:
        return self.request.run_id

    @property
    def finished(self) -> bool:
        return self.state is not RunState.RUNNING

    def status(self) -> RunStatus:
        session_id = self.runtime.session_id if self.runtime else None
        return RunStatus(
            run_id=self.run_id,
            state=self.state,
            last_seq=len(self.events),
            session_id=session_id or self.request.session_id,
        )

    async def emit(self, type_: EventType, data: dict[str, Any]) -> RunEvent | None:
        """Append the next event; anything after the terminal event is dropped so the log ends cleanly."""
        if self.finished:
            return None
        event = RunEvent(seq=len(self.events) + 1, type=type_, data=data)
        async with self._changed:
            self.events.append(event)
            if event.terminal:
                self.state = _TERMINAL_STATES[event.type]
            self._changed.notify_all()
        return event

    async def follow(self, after: int, heartbeat: float | None = None) -> AsyncIterator[RunEvent | None]:
        """Events with ``seq > after`` until the terminal one; ``None`` every ``heartbeat`` s of silence."""
        index = max(after, 0)  # events[i] has seq i + 1

        def ready() -> bool:
            return len(self.events) > index or self.finished

        while True:
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait_for(ready), timeout=heartbeat)
                except TimeoutError:
                    yield None
                    continue
            batch = self.events[index:]
            for event in batch:
                yield event
            index += len(batch)
            if self.finished and index >= len(self.events):
                return

    async def drive(self) -> None:
        """The run's task body: pump runtime events into the log and always end with a terminal event."""
        structlog.contextvars.bind_contextvars(run_id=self.run_id)
        log.info("run_started", runtime=self.request.runtime, provider=self.request.model.provider)
        try:
            runtime = self.runtime
            if runtime is None:
                await self.emit(EventType.START, {"run_id": self.run_id, "session_id": self.request.session_id})
                raise self.rejection or RunFailed("no runtime", code="runtime_unknown", retryable=False)
            async with contextlib.aclosing(runtime.run(self.request)) as emitted:
                async for item in emitted:
                    await self.emit(item.type, item.data)
                    if self.finished:
                        break
            if not self.finished:
                await self.emit(
                    EventType.ERROR,
                    {
                        "message": "runtime ended without a result",
                        "code": "runtime_error",
                        "retryable": False,
                    },
                )
        except RunFailed as failure:
            log.info("run_failed", code=failure.code, retryable=failure.retryable)
            await self.emit(EventType.ERROR, failure.as_event().data)
        except asyncio.CancelledError:
            # The run's own log must say why it stopped; the task then ends quietly.
            await self.emit(EventType.CANCELLED, {"reason": self.cancel_reason or "cancelled"})
        except Exception as exc:
            log.exception("run_crashed")
            await self.emit(
                EventType.ERROR,
                {
                    "message": f"executor error: {type(exc).__name__}: {exc}",
                    "code": "executor_error",
                    "retryable": False,
                },
            )
        finally:
            log.info("run_finished", state=self.state.value, events=len(self.events))

    async def cancel(self, reason: str) -> None:
        if self.finished or self.task is None:
            return
        # Cancel once: a second cancel could interrupt the task while it records its cancelled event.
        if not self.cancel_reason:
            self.cancel_reason = reason or "cancelled"
            self.task.cancel()
        await asyncio.wait({self.task}, timeout=CANCEL_GRACE_SECONDS)
        if not self.finished:
            log.warning("run_cancel_timeout", run_id=self.run_id)
            await self.emit(EventType.CANCELLED, {"reason": self.cancel_reason})


class RunRegistry:
    def __init__(self, workdir: Path, runtime_for: Callable[[str], type[Runtime]] = runtime_class) -> None:
        self.workdir = workdir
        self._runtime_for = runtime_for
        self._runs: dict[str, Run] = {}

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def active_count(self) -> int:
        return sum(1 for run in self._runs.values() if not run.finished)

    def start(self, request: RunRequest) -> tuple[Run, bool]:
        """Return the run for ``request.run_id``, starting it only if it is new (no await: race-free)."""
        existing = self._runs.get(request.run_id)
        if existing is not None:
            return existing, False
        workdir = Path(request.workdir) if request.workdir else self.workdir
        # An unusable request still becomes a run ending in an error event, so callers have one failure path.
        try:
            run = Run(request, self._runtime_for(request.runtime)(workdir))
        except RunFailed as rejection:
            run = Run(request, None, rejection)
        self._runs[request.run_id] = run
        run.task = asyncio.create_task(run.drive(), name=f"run:{request.run_id}")
        return run, True

    async def shutdown(self) -> None:
        await asyncio.gather(
            *(run.cancel("executor shutting down") for run in self._runs.values()), return_exceptions=True
        )
