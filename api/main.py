"""The API process: FastAPI app (REST under /api/v1) — `uvicorn api.main:app` or `wegent api`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio.to_thread
import socketio
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import metrics, unavailable
from api.limits import BodyLimitMiddleware
from api.openai_compat import app as openai_compat
from api.realtime.server import create_socket_server
from api.request_context import RequestContextMiddleware
from api.routers import audit, auth, codec, executors, health, keys, quotas, resources, schedules, tasks, usage, users
from api.web import mount_web_app
from core import schedules as schedule_svc
from core.db.bootstrap import bootstrap_database
from core.resource_store import StoreError
from wegent.config import get_settings
from wegent.logging import configure_logging, get_logger

log = get_logger("api")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().api_threads
    await run_in_threadpool(bootstrap_database)
    # Repair drift between Schedule resources and Temporal Schedules; waits in the background for Temporal.
    reconcile = asyncio.create_task(schedule_svc.reconcile_at_startup())
    # What start-up made (modules, routes, models: hundreds of thousands of objects) lives as long as the
    # process. Frozen, the cyclic GC stops re-scanning it in every full collection, pauses that otherwise
    # stall every request in flight for tens of milliseconds.
    gc.collect()
    gc.freeze()
    log.info("api.started")
    yield
    reconcile.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reconcile


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(title="Wegent", version="0.1.0", lifespan=lifespan)

    unavailable.install(app)

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    # Innermost: request bodies are bounded before any endpoint (or the CORS layer's answer) sees them.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # The Temporal console calls the codec endpoint from the browser; other origins only when configured.
    ui = urlsplit(settings.temporal_ui_url)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[f"{ui.scheme}://{ui.netloc}", *settings.cors_origins],
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Namespace", "X-Request-ID"],
    )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    app.include_router(metrics.router)
    for router in (
        auth.router,
        users.router,
        keys.router,
        usage.router,
        resources.router,
        tasks.router,
        schedules.router,
        codec.router,
        executors.router,
        audit.router,
        quotas.router,
    ):
        app.include_router(router, prefix="/api/v1")
    openai_compat.mount(app)  # /v1: the OpenAI-compatible API, with OpenAI's error bodies
    mount_web_app(app)  # last: its catch-all must not shadow any API route
    return app


def create_asgi_app() -> socketio.ASGIApp:
    """REST and Socket.IO (`/socket.io`, namespace `/chat`) in one ASGI app."""
    fastapi_app = create_app()
    sio, live = create_socket_server(get_settings())
    fastapi_app.state.sio = sio
    fastapi_app.state.live = live
    return socketio.ASGIApp(sio, other_asgi_app=fastapi_app, socketio_path="socket.io")


app = create_asgi_app()
