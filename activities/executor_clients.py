"""The worker's clients of its sandboxes' executor APIs, one per sandbox, kept from one step to the next.

Each step used to build a client and open a new connection to its sandbox, and the task's next stage or follow-up
did it all again: about a millisecond of the worker's CPU and a TCP handshake with the executor on the way to
every run's start. Kept per sandbox (its port and its workflow, whose token it presents), a later step reuses the
open connection; httpx drops a pooled connection the executor closed meanwhile and opens a new one.

A workflow's clients go when this worker stops one of its sandboxes; beyond ``limit`` kept clients, the least
recently used idle one goes. A client is closed only once no step is using it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from activities.tokens import executor_token
from executor.client import ExecutorClient

DEFAULT_LIMIT = 256


@dataclass
class _Kept:
    client: ExecutorClient
    users: int = 0
    retired: bool = False  # forgotten or evicted while in use: closed when its last user is done


class ExecutorClients:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._kept: OrderedDict[tuple[int, str], _Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    @asynccontextmanager
    async def use(self, port: int, workflow_id: str) -> AsyncIterator[ExecutorClient]:
        """The client of the sandbox on ``port`` that belongs to ``workflow_id`` (made on first use)."""
        key = (port, workflow_id)
        kept = self._kept.get(key)
        if kept is None:
            kept = _Kept(ExecutorClient(f"http://127.0.0.1:{port}", executor_token(workflow_id)))
            self._kept[key] = kept
        self._kept.move_to_end(key)
        kept.users += 1
        await self._trim()
        try:
            yield kept.client
        finally:
            kept.users -= 1
            if kept.retired and kept.users == 0:
                await kept.client.aclose()
            await self._trim()

    async def forget(self, workflow_id: str) -> None:
        """The workflow's sandbox was stopped: its clients go (each once its last step lets go of it)."""
        for key in [key for key in self._kept if key[1] == workflow_id]:
            await self._retire(self._kept.pop(key))

    async def aclose(self) -> None:
        kept, self._kept = list(self._kept.values()), OrderedDict()
        for entry in kept:
            await self._retire(entry)

    async def _trim(self) -> None:
        idle = [key for key, entry in self._kept.items() if entry.users == 0]  # oldest first
        for key in idle[: max(0, len(self._kept) - self.limit)]:
            await self._retire(self._kept.pop(key))

    @staticmethod
    async def _retire(entry: _Kept) -> None:
        entry.retired = True
        if entry.users == 0:
            await entry.client.aclose()
