"""What every agent runtime implements, and how it reports failure.

A runtime turns one ``RunRequest`` into a stream of ``Emitted`` events; the server owns numbering (``seq``),
storage and delivery, so runtimes stay oblivious to HTTP and to re-attaching readers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

from wegent.events import EventType
from wegent.executor_api import RunRequest


class Emitted(NamedTuple):
    """An event before the server gives it a ``seq`` and a timestamp."""

    type: EventType
    data: dict[str, Any]


class RunFailed(Exception):
    """Raised anywhere inside a runtime to end the run with an ``error`` event.

    ``retryable`` tells the worker whether running the same request again may succeed (rate limits, outages)
    or is pointless (bad key, unknown model).
    """

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable

    def as_event(self) -> Emitted:
        return Emitted(EventType.ERROR, {"message": self.message, "code": self.code, "retryable": self.retryable})


class Runtime(ABC):
    """One instance serves one run; ``session_id`` is readable while and after the run streams."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.session_id: str | None = None

    @abstractmethod
    def run(self, request: RunRequest) -> AsyncIterator[Emitted]:
        """Yield ``start`` first and exactly one terminal event (done / error) last, or raise ``RunFailed``.

        Cancellation arrives as ``asyncio.CancelledError``; implementations must let it propagate and
        release what they hold (HTTP streams, subprocesses) on the way out.
        """

    def start_event(self, request: RunRequest) -> Emitted:
        return Emitted(EventType.START, {"run_id": request.run_id, "session_id": self.session_id})
