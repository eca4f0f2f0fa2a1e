"""HTTP surface of the executor, exactly as ``wegent.executor_api`` describes it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from executor.auth import TokenHolder, bearer_auth, presented_token, refuse
from executor.runs import Run, RunRegistry
from executor.runtimes.sdk_preload import preload_model_sdks
from executor.workspace import DEFAULT_MAX_DIFF_BYTES, Workspace, WorkspaceError
from wegent.executor_api import RunRequest, RunStatus, WorkspaceRequest, WorkspaceStatus
from wegent.http import tls_context

MAX_HEARTBEAT_SECONDS = 300.0


class BindRequest(BaseModel):
    """A warm (pooled) executor becomes one task's: from now on only that task's token drives it."""

    token: str = Field(min_length=16, max_length=512)


def create_app(token: str | None, workdir: Path | None = None, pool_key: str | None = None) -> FastAPI:
    holder = TokenHolder(token, pool_key)
    registry = RunRegistry(workdir or Path.cwd())
    workspace = Workspace(registry.workdir)
    primed = asyncio.Event()  # a warm executor's priming is over: the pool hands it out only then

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A warm (pooled) executor has time before its task: it spends it on first-call costs (request
        # handling, an outbound client's TLS setup) that would otherwise land on the task's first token.
        priming = asyncio.create_task(_prime(app, primed)) if not holder.bound else None
        yield
        if priming is not None:
            priming.cancel()
        await registry.shutdown()

    app = FastAPI(title="Wegent executor", lifespan=lifespan)
    app.state.registry = registry
    app.state.workspace = workspace

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes the offending input by default, which for a missing field is the whole body:
        # model keys and git tokens. Report where and what, never the values.
        errors = [{k: v for k, v in error.items() if k not in ("input", "ctx", "url")} for error in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})

    runs = APIRouter(dependencies=[Depends(bearer_auth(holder))])
    # Run ids are chosen by the worker and may contain "/", hence the ``:path`` convertors below.

    def find(run_id: str) -> Run:
        run = registry.get(run_id)
        if run is None:
            raise HTTPException(status_code=404, detail=f"run {run_id!r} not found")
        return run

    @app.get("/health")
    async def health() -> dict[str, object]:
        answer: dict[str, object] = {"status": "ok", "runs": registry.active_count(), "bound": holder.bound}
        if not holder.bound:
            answer["pool"] = holder.pool_fingerprint()
            answer["primed"] = primed.is_set()
        return answer

    @app.post("/bind")
    async def bind(body: BindRequest, request: Request) -> dict[str, object]:
        if holder.bound:
            # Never reused across tasks: a bound sandbox cannot be handed to another one.
            raise HTTPException(status_code=409, detail="this executor is already bound to a task")
        if not holder.bind(presented_token(request) or "", body.token):
            raise refuse()
        return {"bound": True}

    @runs.post("/runs")
    async def start_run(request: RunRequest) -> RunStatus:
        run, _ = registry.start(request)
        return run.status()

    @runs.get("/runs/{run_id:path}/events")
    async def run_events(
        run_id: str,
        after: int = Query(0, ge=0),
        # Optional extension: a blank line after this many idle seconds lets readers detect a dead
        # connection with a read timeout. 0 (default) sends only events, the plain contract.
        heartbeat: float = Query(0.0, ge=0.0, le=MAX_HEARTBEAT_SECONDS),
    ) -> StreamingResponse:
        run = find(run_id)

        async def ndjson() -> AsyncIterator[str]:
            async for event in run.follow(after, heartbeat or None):
                yield "\n" if event is None else event.model_dump_json() + "\n"

        return StreamingResponse(
            ndjson(),
            media_type="application/x-ndjson",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @runs.post("/runs/{run_id:path}/cancel")
    async def cancel_run(run_id: str, reason: str = Query("cancel requested", max_length=500)) -> RunStatus:
        run = find(run_id)
        await run.cancel(reason)
        return run.status()

    # Registered last: with the path convertor it would otherwise also match ".../events" and ".../cancel".
    @runs.get("/runs/{run_id:path}")
    async def run_status(run_id: str) -> RunStatus:
        return find(run_id).status()

    @runs.post("/workspace")
    async def prepare_workspace(request: WorkspaceRequest) -> WorkspaceStatus:
        try:
            return await workspace.prepare(request)
        except WorkspaceError as exc:
            raise HTTPException(status_code=exc.status, detail=exc.message) from None

    @runs.get("/workspace")
    async def workspace_status(
        max_diff_bytes: int = Query(DEFAULT_MAX_DIFF_BYTES, ge=0, le=10_000_000),
    ) -> WorkspaceStatus:
        return await workspace.status(max_diff_bytes)

    app.include_router(runs)
    return app


async def _prime(app: FastAPI, primed: asyncio.Event) -> None:
    """Exercise the request path in process (answers are refusals: no token is bound yet) and build the
    outbound HTTP machinery and the model SDKs once; nothing here touches a task or the network."""
    import httpx

    try:
        with contextlib.suppress(Exception):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://executor") as client:
                await client.get("/health")
                await client.post("/runs", json={}, headers={"Authorization": "Bearer -"})
                await client.get("/runs/prime", headers={"Authorization": "Bearer -"})
            tls_context()
            await asyncio.to_thread(preload_model_sdks)
    finally:
        primed.set()
