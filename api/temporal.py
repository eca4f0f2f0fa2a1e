"""The API's Temporal client: connected lazily so the API serves resources even while Temporal is down."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from wegent.config import get_settings
from worker.client import connect

_client: Client | None = None
_lock = asyncio.Lock()


class TemporalUnavailable(Exception):
    pass


async def get_temporal() -> Client:
    global _client
    if _client is not None:
        return _client
    async with _lock:
        if _client is None:
            try:
                _client = await connect(get_settings())
            except Exception as exc:  # noqa: BLE001 - any connect failure means unavailable
                raise TemporalUnavailable(
                    f"Temporal is unreachable at {get_settings().temporal_address}: {exc}"
                ) from exc
    return _client


def console_url(workflow_id: str) -> str:
    settings = get_settings()
    return f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"
