"""Async client for the executor API, used by the worker's activities.

Every call is safe to repeat (``POST /runs`` is idempotent on ``run_id``, cancel is idempotent), so network
failures are retried with backoff before surfacing as ``ExecutorUnavailable``. ``stream_events`` re-attaches
with ``after=<last seq>`` when the connection drops, so callers see each event exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from wegent.events import RunEvent
from wegent.executor_api import RunRequest, RunState, RunStatus, WorkspaceRequest, WorkspaceStatus
from wegent.http import tls_context

_GATEWAY_STATUSES = frozenset({502, 503, 504})
M = TypeVar("M", bound=BaseModel)


class ExecutorError(Exception):
    """Base of everything this client raises."""


class ExecutorUnavailable(ExecutorError):
    """The executor could not be reached or stopped answering; retrying later may work."""


class ExecutorAuthError(ExecutorError):
    """The executor rejected the token (HTTP 401)."""


class RunNotFound(ExecutorError):
    """The executor has no run with this id (HTTP 404), e.g. because the sandbox was restarted."""


class ExecutorHTTPError(ExecutorError):
    def __init__(self, message: str, status_code: int, detail: Any) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class WorkspaceCloneError(ExecutorHTTPError):
    """The executor could not clone the repository (HTTP 422); the message is git's, without credentials."""


class WorkspaceConflict(ExecutorHTTPError):
    """The executor's workspace already holds a clone of another repository (HTTP 409)."""


class ExecutorProtocolError(ExecutorError):
    """The executor answered with something that does not match ``wegent.executor_api``."""


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return body.get("detail", body) if isinstance(body, dict) else body


class ExecutorClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
        retry_backoff: float = 0.5,
        heartbeat: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``heartbeat`` (seconds, 0 = off) asks the server for keep-alive lines on quiet event streams, so a
        dead connection is noticed after ~3 missed heartbeats instead of hanging forever."""
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
            verify=tls_context(),
        )

    async def __aenter__(self) -> ExecutorClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def health(self) -> dict[str, Any]:
        response = await self._request("GET", "/health")
        return dict(response.json())

    async def wait_healthy(self, max_wait: float = 60.0, interval: float = 0.25) -> dict[str, Any]:
        """Poll ``/health`` until the executor answers; for freshly started containers / subprocesses."""
        deadline = time.monotonic() + max_wait
        while True:
            try:
                response = await self._http.get("/health")
                if response.status_code == 200:
                    return dict(response.json())
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                problem = repr(exc)
            if time.monotonic() >= deadline:
                raise ExecutorUnavailable(
                    f"executor at {self.base_url} not healthy after {max_wait:.0f}s (last: {problem})"
                )
            await asyncio.sleep(interval)

    async def start_run(self, request: RunRequest) -> RunStatus:
        response = await self._request("POST", "/runs", json=request.model_dump(mode="json"))
        return self._parse(RunStatus, response)

    async def status(self, run_id: str) -> RunStatus:
        return self._parse(RunStatus, await self._request("GET", self._run_path(run_id)))

    async def cancel(self, run_id: str, reason: str | None = None) -> RunStatus:
        params = {"reason": reason} if reason else None
        response = await self._request("POST", f"{self._run_path(run_id)}/cancel", params=params)
        return self._parse(RunStatus, response)

    async def prepare_workspace(
        self,
        git_url: str,
        *,
        branch: str | None = None,
        depth: int = 1,
        token: str | None = None,
        username: str | None = None,
        timeout: float = 600.0,
    ) -> WorkspaceStatus:
        """Clone the repository into the executor's working directory (a no-op when it already is).

        Raises ``WorkspaceCloneError`` when git fails (bad URL, branch or credentials) and ``WorkspaceConflict``
        when another repository is already there.
        """
        request = WorkspaceRequest(
            git_url=git_url, branch=branch, depth=depth, token=token, username=username, timeout=timeout
        )
        try:
            # The executor bounds the clone by ``timeout``; the HTTP call waits a little longer for its answer.
            response = await self._request(
                "POST", "/workspace", json=request.model_dump(mode="json"), timeout=timeout + 30.0
            )
        except ExecutorHTTPError as exc:
            kind = {422: WorkspaceCloneError, 409: WorkspaceConflict}.get(exc.status_code)
            if kind is None:
                raise
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            raise kind(detail, exc.status_code, exc.detail) from None
        return self._parse(WorkspaceStatus, response)

    async def workspace_status(self, max_diff_bytes: int | None = None) -> WorkspaceStatus:
        """Branch, head, porcelain status and the (truncated) diff of what changed since the clone."""
        params = {"max_diff_bytes": max_diff_bytes} if max_diff_bytes is not None else None
        response = await self._request("GET", "/workspace", params=params, timeout=120.0)
        return self._parse(WorkspaceStatus, response)

    async def stream_events(self, run_id: str, after: int = 0) -> AsyncIterator[RunEvent]:
        """Yield events with ``seq > after`` in order, ending after the terminal event."""
        last_seq = after
        failures = 0
        while True:
            try:
                # aclosing: returning at the terminal event must close the HTTP stream now, not at GC time.
                async with contextlib.aclosing(self._stream_once(run_id, last_seq)) as events:
                    async for event in events:
                        if event.seq <= last_seq:
                            continue  # defensive: never hand out an event twice
                        last_seq = event.seq
                        failures = 0
                        yield event
                        if event.terminal:
                            return
                # An empty tail is normal when the caller already saw the terminal event (after >= last seq).
                status = await self.status(run_id)
                if status.state is not RunState.RUNNING and status.last_seq <= last_seq:
                    return
                problem = "event stream ended before the run's terminal event"
            except httpx.TransportError as exc:
                problem = f"event stream broke: {exc!r}"
            failures += 1
            if failures > self.retries:
                raise ExecutorUnavailable(f"{problem} (run {run_id!r} at {self.base_url}, after seq {last_seq})")
            await asyncio.sleep(self.retry_backoff * 2 ** (failures - 1))

    async def _stream_once(self, run_id: str, after: int) -> AsyncIterator[RunEvent]:
        params: dict[str, Any] = {"after": after}
        read_timeout: float | None = None
        if self.heartbeat > 0:
            params["heartbeat"] = self.heartbeat
            read_timeout = self.heartbeat * 3 + 5
        timeout = httpx.Timeout(self._connect_timeout, read=read_timeout)
        path = f"{self._run_path(run_id)}/events"
        async with self._http.stream("GET", path, params=params, timeout=timeout) as response:
            if response.status_code >= 400:
                await response.aread()
                self._raise_for_status(response, "GET", path)
            async for line in response.aiter_lines():
                if not line.strip():
                    continue  # heartbeat
                try:
                    yield RunEvent.model_validate_json(line)
                except ValidationError as exc:
                    raise ExecutorProtocolError(f"bad event line from executor: {line[:200]!r}") from exc

    @staticmethod
    def _run_path(run_id: str) -> str:
        return f"/runs/{quote(run_id, safe='')}"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        attempt = 0
        # httpx's default (the client-wide timeout) unless the call needs longer, e.g. a clone.
        request_timeout: Any = (
            httpx.Timeout(timeout, connect=self._connect_timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT
        )
        while True:
            try:
                response = await self._http.request(method, path, json=json, params=params, timeout=request_timeout)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise ExecutorUnavailable(
                        f"executor at {self.base_url} unreachable for {method} {path}: {exc!r}"
                    ) from exc
            else:
                if response.status_code not in _GATEWAY_STATUSES or attempt >= self.retries:
                    self._raise_for_status(response, method, path)
                    return response
            await asyncio.sleep(self.retry_backoff * 2**attempt)
            attempt += 1

    def _raise_for_status(self, response: httpx.Response, method: str, path: str) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _detail(response)
        where = f"{method} {self.base_url}{path}"
        if status == 401:
            raise ExecutorAuthError(f"executor rejected the token ({where}): {detail}")
        if status == 404:
            raise RunNotFound(f"not found ({where}): {detail}")
        if status in _GATEWAY_STATUSES:
            raise ExecutorUnavailable(f"executor unavailable, HTTP {status} ({where}): {detail}")
        raise ExecutorHTTPError(f"executor answered HTTP {status} ({where}): {detail}", status, detail)

    @staticmethod
    def _parse(model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ExecutorProtocolError(f"unexpected executor answer: {response.text[:200]!r}") from exc
