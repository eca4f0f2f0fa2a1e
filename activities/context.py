"""What every activity needs, built once per worker process."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from activities.executors.base import ExecutorBackend
from activities.relay import EventRelay
from wegent.config import Settings
from wegent.crypto import Keyring

if TYPE_CHECKING:
    from activities.executors.pool import WarmPool
    from activities.gateway.server import GatewayProcess

T = TypeVar("T")


@dataclass
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    keyring: Keyring
    backend: ExecutorBackend
    relay: EventRelay
    host: str
    pool: WarmPool | None = None  # sandboxes started ahead of tasks (WEGENT_EXECUTOR_POOL_SIZE)
    gateway: GatewayProcess | None = None  # the model gateway executors call models through (set by the worker)

    async def db(self, fn: Callable[[Session], T]) -> T:
        """Run blocking database work in a thread with its own session."""

        def run() -> T:
            with self.sessions() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)


def default_host(settings: Settings) -> str:
    return settings.executor_host or socket.gethostname()
