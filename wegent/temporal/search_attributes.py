"""Wegent's search attributes: the keys every task workflow carries, and their registration on a namespace."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

# The attributes every task workflow carries, so the Temporal console can filter by them.
TASK_ID = SearchAttributeKey.for_int("WegentTaskId")
USER = SearchAttributeKey.for_keyword("WegentUser")
TEAM = SearchAttributeKey.for_keyword("WegentTeam")
COLLABORATION_MODEL = SearchAttributeKey.for_keyword("WegentCollaborationModel")
STATE = SearchAttributeKey.for_keyword("WegentState")
SCHEDULE_ID = SearchAttributeKey.for_int("WegentScheduleId")

ALL = [TASK_ID, USER, TEAM, COLLABORATION_MODEL, STATE, SCHEDULE_ID]


async def register(client: Client, namespace: str) -> list[str]:
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    wanted: dict[str, IndexedValueType.ValueType] = {}
    for key in ALL:
        if key.name in existing.custom_attributes:
            continue
        kind = key.indexed_value_type
        wanted[key.name] = (
            IndexedValueType.INDEXED_VALUE_TYPE_INT
            if kind == SearchAttributeIndexedValueType.INT
            else IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        )
    if wanted:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=wanted)
        )
    return sorted(wanted)


def _type_name(key: object) -> str:
    kind = getattr(key, "indexed_value_type", None)
    return "Int" if kind == SearchAttributeIndexedValueType.INT else "Keyword"


def manual_registration(namespace: str) -> str:
    """What an operator runs where Wegent may not register the attributes itself (a managed cluster)."""
    pairs = " ".join(f"--name {key.name} --type {_type_name(key)}" for key in ALL)
    listing = ", ".join(f"{key.name} ({_type_name(key)})" for key in ALL)
    return (
        f"register Wegent's search attributes on namespace {namespace!r}: {listing}; "
        f"e.g. `temporal operator search-attribute create --namespace {namespace} {pairs}` "
        "(on a managed cluster, in its console or its own CLI)"
    )


async def ensure_registered(client: Client, namespace: str) -> list[str]:
    """Register what is missing (idempotent). Where the operator API is refused, log exactly what to register
    instead of failing: the attributes may have been registered by an operator already."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        try:
            return await register(client, namespace)
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
            return await register(client, namespace)  # another process registered them meanwhile
    except RPCError as exc:
        if exc.status not in (
            RPCStatusCode.PERMISSION_DENIED,
            RPCStatusCode.UNIMPLEMENTED,
            RPCStatusCode.UNAUTHENTICATED,
        ):
            raise
        from wegent.logging import get_logger

        get_logger("temporal").error(
            "temporal.search_attributes_not_registered", error=exc.message, todo=manual_registration(namespace)
        )
        return []


async def _main(address: str, namespace: str) -> None:
    client = await Client.connect(address, namespace=namespace)
    added = await register(client, namespace)
    print(f"[wegent] search attributes ready on {address}/{namespace}" + (f" (added {added})" if added else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="127.0.0.1:7233")
    parser.add_argument("--namespace", default="default")
    args = parser.parse_args()
    asyncio.run(_main(args.address, args.namespace))
    # Skip interpreter finalisation: the Temporal client's native runtime has been seen to crash while it
    # is torn down at exit (SIGSEGV after all work was done), which would fail provisioning for nothing.
    sys.stdout.flush()
    os._exit(0)


async def ensure_namespace(client: Client, namespace: str, retention_days: int = 1) -> None:
    """Create a namespace if missing (used for isolated test runs); waits until it serves requests."""
    from datetime import timedelta

    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        return
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    from google.protobuf.duration_pb2 import Duration

    retention = Duration()
    retention.FromTimedelta(timedelta(days=retention_days))
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    for _ in range(100):
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
            return
        except RPCError:
            await asyncio.sleep(0.1)
