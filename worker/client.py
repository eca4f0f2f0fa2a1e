"""Temporal client connection shared by the API and the worker."""

from __future__ import annotations

from temporalio.client import Client

from wegent.config import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
