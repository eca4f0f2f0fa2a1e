"""Liveness and readiness.

`/healthz`: the process serves requests (its start-up, migrations included, has run). `/readyz`: each
dependency a request may need answers: the database, Temporal and (when configured) Redis, reported one by
one so an operator sees which is down; 503 while any is.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.models_public import HealthPublic, ReadinessPublic
from core.db.session import get_sessionmaker
from wegent.config import get_settings
from wegent.temporal.client import TemporalUnavailable, get_temporal

router = APIRouter(tags=["health"])

#: Seconds each dependency may take to answer before it counts as down.
CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database() -> str:
    with get_sessionmaker()() as db:
        db.execute(text("SELECT 1"))
    return "ok"


async def _temporal() -> str:
    client = await get_temporal()
    await client.service_client.check_health()
    return "ok"


async def _redis(url: str) -> str:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "ok"


async def _check(name: str, probe) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    try:
        return name, await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except TemporalUnavailable:
        return name, "unreachable"
    except TimeoutError:
        return name, "timeout"
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency means not ready; the type says which
        return name, type(exc).__name__


@router.get("/readyz", responses={200: {"model": ReadinessPublic}, 503: {"model": ReadinessPublic}})
async def readyz() -> JSONResponse:
    probes = [_check("database", run_in_threadpool(_database)), _check("temporal", _temporal())]
    redis_url = get_settings().redis_url
    if redis_url:
        probes.append(_check("redis", _redis(redis_url)))
    report = dict(await asyncio.gather(*probes))
    ready = all(state == "ok" for state in report.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", **report}, status_code=200 if ready else 503)
