"""Temporal client connection shared by the API and the worker."""

from __future__ import annotations

from temporalio.client import Client

from wegent.config import Settings
from wegent.crypto import Keyring
from worker.codec import data_converter


async def connect(settings: Settings) -> Client:
    """Every payload Wegent writes to Temporal is encrypted (see worker/codec.py)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(Keyring.parse(settings.encryption_keyring_spec)),
    )
