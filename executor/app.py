"""HTTP surface of the executor, exactly as ``wegent.executor_api`` describes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from executor.auth import bearer_auth
from executor.runs import Run, RunRegistry
from executor.workspace import DEFAULT_MAX_DIFF_BYTES, Workspace, WorkspaceError
from wegent.executor_api import RunRequest, RunStatus, WorkspaceRequest, WorkspaceStatus

MAX_HEARTBEAT_SECONDS = 300.0


def create_app(token: str, workdir: Path | None = None) -> FastAPI:
    if not token:
        raise ValueError("an executor token is required")
    registry = RunRegistry(workdir or Path.cwd())
    workspace = Workspace(registry.workdir)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
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

    runs = APIRouter(dependencies=[Depends(bearer_auth(token))])
    # Run ids are chosen by the worker and may contain "/", hence the ``:path`` convertors below.

    def find(run_id: str) -> Run:
        run = registry.get(run_id)
        if run is None:
            raise HTTPException(status_code=404, detail=f"run {run_id!r} not found")
        return run

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ok", "runs": registry.active_count()}

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
