"""The Temporal client: how every process connects, and the one shared connection of a process.

Every payload Wegent writes to Temporal is encrypted (see `wegent/temporal/codec.py`). The shared connection is
made lazily, so the API serves resources even while Temporal is down.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from wegent.config import Settings, get_settings
from wegent.crypto import Keyring
from wegent.logging import get_logger
from wegent.temporal.codec import data_converter
from wegent.temporal.search_attributes import ensure_registered

log = get_logger("temporal")

_client: Client | None = None
_lock = asyncio.Lock()


class TemporalUnavailable(Exception):
    pass


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(Keyring.parse(settings.encryption_keyring_spec)),
    )


async def get_temporal() -> Client:
    """The process's shared client, connected on first use (search attributes registered before any start)."""
    global _client
    if _client is not None:
        return _client
    async with _lock:
        if _client is None:
            settings = get_settings()
            try:
                client = await connect(settings)
            except Exception as exc:  # noqa: BLE001 - any connect failure means unavailable
                raise TemporalUnavailable(f"Temporal is unreachable at {settings.temporal_address}: {exc}") from exc
            try:
                # Before the first workflow start: a fresh Temporal refuses workflows with unknown attributes.
                await ensure_registered(client, settings.temporal_namespace)
            except Exception as exc:  # noqa: BLE001 - the worker registers them too; starting may still work
                log.warning("temporal.search_attributes_check_failed", error=str(exc))
            _client = client
    return _client


def share_temporal(client: Client) -> None:
    """Make ``client`` the process's shared client: `wegent up` runs its worker on it, so the API's workflow
    starts can be eager (the first workflow task handed straight to that worker, no round trip)."""
    global _client
    _client = client


def workflow_id_for(task_id: int) -> str:
    return f"task-{task_id}"


def console_url(workflow_id: str) -> str:
    settings = get_settings()
    return f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"
