"""The OpenAI-compatible API, mounted at `/v1` so an OpenAI client's ``base_url`` is ``<api>/v1``.

`GET /v1/models` lists the teams the caller can use (their own and the public ones) as ``namespace/name``;
`POST /v1/chat/completions` and `POST /v1/responses` run a turn of a task with that team. Every call is an
ordinary task (``labels.source = openai``), visible in `GET /api/v1/tasks`, the web app and Temporal.
A separate FastAPI app, so its errors use OpenAI's body (``{"error": {...}}``) without touching `/api/v1`'s.

Continuing a task: chat completions take the task id in the ``X-Wegent-Task-Id`` header or in
``metadata.wegent_task_id``; responses take ``previous_response_id`` (``resp_{task}_{turn}``). Every answer
carries ``X-Wegent-Task-Id`` and ``X-Wegent-Turn`` headers, and its id names the task and the turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool

from api.deps import get_current_user
from api.openai_compat import sse
from api.openai_compat.schemas import (
    ChatCompletionOut,
    ChatCompletionRequest,
    ModelListOut,
    ModelOut,
    ResponseOut,
    ResponsesRequest,
)
from api.openai_compat.turns import (
    ApiError,
    Turn,
    TurnResult,
    build_prompt,
    failure,
    follow_turn,
    start_turn,
    text_of,
)
from api.unavailable import DATABASE_DOWN, RETRY_AFTER_S
from core import tasks as task_svc
from core.db.models import User
from core.db.session import get_sessionmaker
from core.live_store import LiveStore
from core.resource_store import ResourceStore, StoreError
from wegent.crypto import get_keyring
from wegent.logging import get_logger
from wegent.realtime import NAMESPACE, user_room
from wegent.realtime_payloads import TaskCreated

log = get_logger("openai")
Caller = Annotated[User, Depends(get_current_user)]
TASK_HEADER = "X-Wegent-Task-Id"

_HTTP_CODES = {401: "invalid_api_key", 403: "permission_denied", 404: "not_found", 409: "conflict", 429: "rate_limited"}


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return JSONResponse(ApiError(status, message, param, code).body(), status_code=status, headers=headers)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), None, _HTTP_CODES.get(exc.status_code))

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        first = exc.errors[0] if exc.errors else None
        message = f"{exc.detail}: {first.message}" if first else exc.detail
        return _error(exc.status, message, first.field if first else None, _HTTP_CODES.get(exc.status))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        return _error(400, f"{param}: {first.get('msg')}" if param else str(first.get("msg")), param, "invalid_value")

    async def database_down(_: Request, exc: Exception) -> JSONResponse:
        return _error(503, "the database is unavailable; retry in a few seconds")

    for kind in (sa_exc.DBAPIError, *DATABASE_DOWN):
        app.add_exception_handler(kind, database_down)


def create_openai_app(parent: FastAPI) -> FastAPI:
    app = FastAPI(title="Wegent (OpenAI-compatible)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.parent = parent
    _install_errors(app)
    app.add_api_route("/models", list_models, methods=["GET"], response_model=ModelListOut)
    app.add_api_route("/models/{model_id:path}", get_model, methods=["GET"], response_model=ModelOut)
    app.add_api_route("/chat/completions", chat_completions, methods=["POST"], response_model=None)
    app.add_api_route("/responses", responses, methods=["POST"], response_model=None)
    return app


# ---- models ---------------------------------------------------------------------------------------


def _teams(user: User) -> list[dict[str, Any]]:
    with get_sessionmaker()() as db:
        rows = ResourceStore(db, user, get_keyring()).list("Team", None, limit=10_000)
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:  # the caller's own team shadows a public one of the same name, as references do
        model_id = f"{row.namespace}/{row.name}"
        owned = row.owner_id == user.id
        if model_id not in seen or owned:
            created = int(row.created_at.timestamp()) if row.created_at else 0
            seen[model_id] = {"id": model_id, "created": created, "owned_by": user.username if owned else "system"}
    return sorted(seen.values(), key=lambda m: m["id"])


async def list_models(user: Caller) -> dict[str, Any]:
    return {"object": "list", "data": await run_in_threadpool(_teams, user)}


async def get_model(model_id: str, user: Caller) -> dict[str, Any]:
    wanted = model_id if "/" in model_id else f"default/{model_id}"
    for model in await run_in_threadpool(_teams, user):
        if model["id"] == wanted:
            return model
    raise ApiError(404, f"The model '{model_id}' does not exist (no such team)", "model", "model_not_found")


# ---- turns ------------------------------------------------------------------------------------------


def _live(request: Request) -> LiveStore | None:
    """The live log when workers' events reach this process; None means: poll the database only."""
    parent = request.app.state.parent
    sio = getattr(parent.state, "sio", None)
    chat = sio.namespace_handlers.get(NAMESPACE) if sio is not None else None
    return getattr(parent.state, "live", None) if chat is not None and chat.streaming else None


async def _announce(request: Request, user: User, turn: Turn) -> None:
    """The user's open task lists (web app) show the new task at once, as for one made in the app."""
    sio = getattr(request.app.state.parent.state, "sio", None)
    if sio is not None and turn.task.turn == 1:
        created = TaskCreated.model_validate(task_svc.task_summary(turn.task))
        await sio.emit(created.event, created.wire(), room=user_room(user.id), namespace=NAMESPACE)


def _task_id(value: str | None, param: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) <= 0:
        raise ApiError(400, f"{param} must be a positive integer (a Wegent task id)", param, "invalid_value")
    return int(value)


def _headers(turn: Turn) -> dict[str, str]:
    return {TASK_HEADER: str(turn.task.id), "X-Wegent-Turn": str(turn.task.turn)}


async def _finish(turn: Turn, request: Request) -> TurnResult:
    result: TurnResult | None = None
    async for item in follow_turn(turn, _live(request), request.is_disconnected):
        if isinstance(item, TurnResult):
            result = item
    if result is None:  # the caller hung up; nobody reads this
        raise ApiError(499, "client closed the request")
    error = failure(result, turn.task.id)
    if error is not None:
        raise error
    return result


async def chat_completions(body: ChatCompletionRequest, user: Caller, request: Request) -> Any:
    header = request.headers.get(TASK_HEADER)
    task_id = _task_id(header, TASK_HEADER) if header else None
    if task_id is None and body.metadata:
        task_id = _task_id(body.metadata.get("wegent_task_id"), "metadata.wegent_task_id")
    messages = [(m.role, text_of(m.content, f"messages[{i}].content")) for i, m in enumerate(body.messages)]
    prompt, title = build_prompt(messages, "messages", continuing=task_id is not None)
    turn = await start_turn(user, body.model, prompt, title, task_id, TASK_HEADER if header else "metadata")
    await _announce(request, user, turn)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = sse.chat_stream(turn, follow_turn(turn, _live(request)), include_usage)
        return _streaming(events, turn)
    result = await _finish(turn, request)
    completion = ChatCompletionOut.model_validate(sse.chat_completion(turn, result))
    return JSONResponse(completion.model_dump(mode="json"), headers=_headers(turn))


async def responses(body: ResponsesRequest, user: Caller, request: Request) -> Any:
    task_id = None
    if body.previous_response_id is not None:
        task_id = sse.task_of_response_id(body.previous_response_id)
    if isinstance(body.input, str):
        messages = [("user", body.input)]
    else:
        messages = [(item.role, text_of(item.content, f"input[{i}].content")) for i, item in enumerate(body.input)]
    if body.instructions and task_id is None:
        messages.insert(0, ("system", body.instructions))
    prompt, title = build_prompt(messages, "input", continuing=task_id is not None)
    turn = await start_turn(user, body.model, prompt, title, task_id, "previous_response_id")
    await _announce(request, user, turn)
    context = sse.ResponseContext(turn, body.previous_response_id, body.instructions, body.metadata or {})
    if body.stream:
        return _streaming(sse.response_stream(context, follow_turn(turn, _live(request))), turn)
    result = await _finish(turn, request)
    out = ResponseOut.model_validate(sse.response_body(context, "completed", result.text, result))
    return JSONResponse(out.model_dump(mode="json"), headers=_headers(turn))


def _streaming(events: AsyncIterator[str], turn: Turn) -> StreamingResponse:
    headers = {**_headers(turn), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


def mount(parent: FastAPI) -> None:
    parent.mount("/v1", create_openai_app(parent))
