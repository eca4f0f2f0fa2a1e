"""The gateway's HTTP side: ``POST /v1/<provider path>`` with a gateway key, forwarded with the Model's real key.

The executor presents its key the way its client library sends keys (``Authorization: Bearer``, Anthropic's
``x-api-key``; Claude Code uses either). The response streams back byte for byte while a :class:`Meter` reads
its usage; a stream that would cross the owner's monthly budget gets one error event in the provider's format
and is closed, so the runtime fails the step with the budget's own words instead of retrying.

``POST /prefetch`` with a step's key starts that key's check ahead of the call: the step's worker sends it as the
step begins, so the check runs beside the run's start instead of on the way to the model. The result stands in
for the next call's own check for at most ``PREFETCH_SECONDS``, once. It grants nothing a call with the same key
would not get: a sandbox that sends it itself only moves its own check earlier.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from activities.gateway import ledger
from activities.gateway.meter import Meter
from activities.gateway.routes import FORWARDED_HEADERS, error_body, error_frame, upstream
from core.tasks.records import cost_of
from wegent.crypto import Keyring
from wegent.http import tls_context
from wegent.logging import get_logger

log = get_logger("activities.gateway")
T = TypeVar("T")
MAX_REQUEST_BYTES = 32 * 1024 * 1024  # a long agent conversation, not a file upload
# Agents think for minutes between bytes at times; connecting to a provider should not take long.
UPSTREAM_TIMEOUT = httpx.Timeout(connect=15.0, read=900.0, write=60.0, pool=30.0)
# A prefetched check is at most this old when a call uses it: a task stopped meanwhile loses its model access
# this much later at most, as a call already under way would.
PREFETCH_SECONDS = 1.0
MAX_PREFETCHED = 1024  # checks waiting for their call; beyond this a prefetch is ignored (the call checks itself)


def presented_key(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key", "").strip()


def _redacted(body: bytes, secret: str) -> bytes:
    # An upstream error may quote the key it was given; the sandbox must not learn it that way either.
    return body.replace(secret.encode(), b"[redacted]") if secret else body


class Gateway:
    def __init__(self, sessions: sessionmaker[Session], keyring: Keyring) -> None:
        self.sessions, self.keyring = sessions, keyring
        self.client = httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, verify=tls_context())
        self._recordings: set[asyncio.Task[None]] = set()
        self._prefetched: dict[str, tuple[float, asyncio.Task[ledger.Grant]]] = {}  # key -> (deadline, check)
        self.active = 0  # calls in flight: the process outlives its worker until they end
        self.app = Starlette(
            routes=[
                Route("/v1/{path:path}", self.handle, methods=["POST"]),
                Route("/prefetch", self.prefetch, methods=["POST"]),
                Route("/healthz", lambda _: JSONResponse({"status": "ok"}), methods=["GET"]),
            ]
        )

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.sessions() as session:
                return fn(session)

        return await asyncio.to_thread(run)

    async def close(self) -> None:
        if self._recordings:
            await asyncio.gather(*self._recordings, return_exceptions=True)
        await self.client.aclose()

    # ---------------------------------------------------------------------------------------- prefetch
    async def prefetch(self, request: Request) -> Response:
        key = presented_key(request)
        now = asyncio.get_running_loop().time()
        for stale in [k for k, (deadline, _) in self._prefetched.items() if deadline < now]:
            self._prefetched.pop(stale)
        if key and key not in self._prefetched and len(self._prefetched) < MAX_PREFETCHED:
            check = asyncio.create_task(self._check(key))
            check.add_done_callback(_retrieve)
            self._prefetched[key] = (now + PREFETCH_SECONDS, check)
        # The same answer whatever the key: a prefetch tells nothing about it.
        return Response(status_code=202)

    async def _check(self, key: str) -> ledger.Grant:
        return await self._db(lambda db: ledger.resolve(db, key, self.keyring))

    async def _grant(self, key: str) -> ledger.Grant:
        """The key's prefetched check if it is fresh (used once), else a check now."""
        prefetched = self._prefetched.pop(key, None)
        if prefetched is not None and asyncio.get_running_loop().time() <= prefetched[0]:
            # A refusal (or a failure) ahead of the call is confirmed by a check of the call's own.
            with contextlib.suppress(Exception):
                return await prefetched[1]
        return await self._check(key)

    # ------------------------------------------------------------------------------------------ handle
    async def handle(self, request: Request) -> Response:
        self.active += 1
        streaming = False
        try:
            response = await self._handle(request)
            streaming = isinstance(response, StreamingResponse)
            return response
        finally:
            if not streaming:
                self.active -= 1

    async def _handle(self, request: Request) -> Response:
        path = request.path_params["path"].strip("/")
        key = presented_key(request)
        try:
            grant = await self._grant(key)
        except ledger.Refusal as refusal:
            log.info("gateway.refused", status=refusal.status, kind=refusal.kind, path=path)
            # Without a valid key the Model (and its provider) is unknown: answer in OpenAI's shape.
            return JSONResponse(error_body("openai", refusal.status, refusal.kind, refusal.message), refusal.status)
        model = grant.model
        target = upstream(model.provider, model.base_url, model.api_key, path)
        if target is None:
            message = f"the gateway does not forward {path!r} for a {model.provider} Model"
            return JSONResponse(error_body(model.provider, 404, "not_found_error", message), 404)
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            message = f"request body over {MAX_REQUEST_BYTES} bytes"
            return JSONResponse(error_body(model.provider, 413, "request_too_large", message), 413)
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        headers["accept-encoding"] = "identity"  # the bytes we meter are the bytes we relay
        try:
            response = await self.client.send(
                self.client.build_request("POST", target.url, headers={**headers, **target.auth}, content=body),
                stream=True,
            )
        except httpx.HTTPError as exc:
            log.warning("gateway.upstream_unreachable", model=grant.label, error=type(exc).__name__)
            message = f"the model endpoint did not answer: {type(exc).__name__}"
            return JSONResponse(error_body(model.provider, 502, "upstream_unreachable", message), 502)
        meter = Meter(model.provider, len(body))
        content_type = response.headers.get("content-type", "application/json")
        if response.status_code >= 400 or not content_type.startswith("text/event-stream"):
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
            if response.status_code < 400:
                meter.feed_document(raw)
                await self._write(grant, meter, complete=True)
            return Response(_redacted(raw, model.api_key), response.status_code, media_type=content_type)
        return StreamingResponse(
            self._relay(grant, response, meter),
            status_code=response.status_code,
            media_type=content_type,
            headers={"cache-control": "no-cache"},
        )

    async def _relay(self, grant: ledger.Grant, response: httpx.Response, meter: Meter) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():
                meter.feed(chunk)
                tokens = meter.live_tokens()
                if grant.over_budget(tokens, meter.input_tokens, tokens - meter.input_tokens):
                    # Stop here: what was generated so far is counted, the rest is never asked for.
                    message = await self._db(lambda db: _stop_message(db, grant, meter))
                    log.info("gateway.budget_stop", task_id=grant.scope.task_id, model=grant.label)
                    yield error_frame(grant.model.provider, "budget_exceeded", message)
                    return
                if meter.finished and not meter.recorded:
                    # Written before the agent sees the end, so its step reads the figures right after.
                    await self._write(grant, meter, complete=True)
                yield chunk
            if not meter.recorded:
                await self._write(grant, meter, complete=True)
        finally:
            if not meter.recorded:  # the agent hung up (cancel) or the provider broke off: count what flowed
                self._write_later(grant, meter)
            await response.aclose()
            self.active -= 1

    async def _write(self, grant: ledger.Grant, meter: Meter, complete: bool) -> None:
        meter.recorded = True
        input_tokens, output_tokens = meter.totals(complete)
        cost = cost_of(grant.pricing, input_tokens, output_tokens)
        try:
            await self._db(lambda db: ledger.record(db, grant.scope, input_tokens, output_tokens, cost))
        except Exception as exc:  # noqa: BLE001 - logged; the answer still reaches the agent
            log.error("gateway.usage_not_recorded", task_id=grant.scope.task_id, error=str(exc))

    def _write_later(self, grant: ledger.Grant, meter: Meter) -> None:
        """From a task of its own: the stream's own task is being cancelled and could await nothing more."""
        task = asyncio.get_running_loop().create_task(self._write(grant, meter, complete=False))
        self._recordings.add(task)
        task.add_done_callback(self._recordings.discard)


def _retrieve(check: asyncio.Task[ledger.Grant]) -> None:
    """A prefetched check no call used: its refusal (or error) is not an unhandled exception."""
    if not check.cancelled():
        check.exception()


def _stop_message(db: Session, grant: ledger.Grant, meter: Meter) -> str:
    input_tokens, output_tokens = meter.totals(complete=False)
    cost = cost_of(grant.pricing, input_tokens, output_tokens)
    meter.recorded = True  # counted here, before the message is read, so the message names the real figures
    ledger.record(db, grant.scope, input_tokens, output_tokens, cost)
    return ledger.budget_message(db, grant.owner_id)
