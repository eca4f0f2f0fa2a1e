"""HTTP contract details: bearer auth, 404s, NDJSON framing, heartbeats, and the client's error mapping."""

from __future__ import annotations

import httpx
import pytest

from executor.client import ExecutorAuthError, ExecutorClient, ExecutorUnavailable, RunNotFound
from tests.executor.conftest import EXECUTOR_TOKEN, collect, run_request
from tests.support.model_server import ModelServer
from wegent.events import EventType, RunEvent


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/runs/x"), ("POST", "/runs"), ("GET", "/runs/x/events"), ("POST", "/runs/x/cancel")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": EXECUTOR_TOKEN}])
async def test_endpoints_require_the_bearer_token(
    executor_url: str, method: str, path: str, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=executor_url) as http:
        response = await http.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_health_needs_no_token(executor_url: str) -> None:
    async with httpx.AsyncClient(base_url=executor_url) as http:
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and isinstance(response.json()["runs"], int)


async def test_client_raises_clear_errors(executor_url: str, executor_client: ExecutorClient) -> None:
    async with ExecutorClient(executor_url, "wrong-token", retries=0) as bad:
        with pytest.raises(ExecutorAuthError, match="rejected the token"):
            await bad.status("anything")
    with pytest.raises(RunNotFound, match="not found"):
        await executor_client.status("no-such-run")
    with pytest.raises(RunNotFound):
        await collect(executor_client, "no-such-run")
    with pytest.raises(RunNotFound):
        await executor_client.cancel("no-such-run")
    async with ExecutorClient("http://127.0.0.1:9", EXECUTOR_TOKEN, retries=1, retry_backoff=0.01) as gone:
        with pytest.raises(ExecutorUnavailable, match="unreachable"):
            await gone.health()
        with pytest.raises(ExecutorUnavailable, match="not healthy"):
            await gone.wait_healthy(max_wait=0.3, interval=0.05)


async def test_invalid_run_request_is_422(executor_url: str) -> None:
    async with httpx.AsyncClient(base_url=executor_url, headers={"Authorization": f"Bearer {EXECUTOR_TOKEN}"}) as http:
        response = await http.post("/runs", json={"run_id": "x"})
    assert response.status_code == 422


async def test_events_are_ndjson_one_event_per_line(
    executor_url: str, executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    request = run_request(model_server, "plain")
    await executor_client.start_run(request)
    await collect(executor_client, request.run_id)
    async with httpx.AsyncClient(base_url=executor_url, headers={"Authorization": f"Bearer {EXECUTOR_TOKEN}"}) as http:
        response = await http.get(f"/runs/{request.run_id}/events", params={"after": 2})
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    events = [RunEvent.model_validate_json(line) for line in lines]
    assert events[0].seq == 3 and events[-1].type is EventType.DONE
    assert response.text.endswith("\n")


async def test_heartbeat_lines_only_when_asked(
    executor_url: str, executor_client: ExecutorClient, model_server: ModelServer
) -> None:
    model_server.script([{"text": "ab", "chunk_size": 1, "chunk_delay": 0.4}])
    request = run_request(model_server, "quiet model")
    await executor_client.start_run(request)
    async with httpx.AsyncClient(base_url=executor_url, headers={"Authorization": f"Bearer {EXECUTOR_TOKEN}"}) as http:
        response = await http.get(f"/runs/{request.run_id}/events", params={"heartbeat": 0.1})
    lines = response.text.split("\n")
    assert "" in lines[:-1]  # at least one heartbeat between events
    events = [RunEvent.model_validate_json(line) for line in lines if line]
    assert events[-1].type is EventType.DONE
    # The client asks for heartbeats by default and hides them.
    replay = await collect(executor_client, request.run_id)
    assert [e.seq for e in replay] == [e.seq for e in events]


async def test_run_ids_may_contain_slashes(executor_client: ExecutorClient, model_server: ModelServer) -> None:
    request = run_request(model_server, "slashes")
    request.run_id = "task/42/subtask/7"
    await executor_client.start_run(request)
    events = await collect(executor_client, request.run_id)
    assert events[-1].type is EventType.DONE
    assert (await executor_client.status(request.run_id)).run_id == "task/42/subtask/7"


class _CutStream(httpx.AsyncByteStream):
    """A body that delivers some lines and then breaks like a dropped connection."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield self.payload
        raise httpx.ReadError("connection reset by peer")


def _line(seq: int, type_: EventType, **data: object) -> bytes:
    return (RunEvent(seq=seq, type=type_, data=dict(data)).model_dump_json() + "\n").encode()


async def test_client_reattaches_after_drops_without_duplicates() -> None:
    asked_after: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/runs/r":
            return httpx.Response(200, json={"run_id": "r", "state": "running", "last_seq": 3})
        after = request.url.params["after"]
        asked_after.append(after)
        if after == "0":  # broken connection after two events
            body = _line(1, EventType.START) + _line(2, EventType.TEXT, delta="a")
            return httpx.Response(200, stream=_CutStream(body))
        if after == "2" and len(asked_after) == 2:  # clean end, but before the terminal event
            return httpx.Response(200, content=_line(2, EventType.TEXT, delta="a"))
        return httpx.Response(200, content=_line(3, EventType.DONE, output="a"))

    async with ExecutorClient(
        "http://executor", "t", retry_backoff=0.01, transport=httpx.MockTransport(handler)
    ) as client:
        events = await collect(client, "r")
    assert [e.seq for e in events] == [1, 2, 3]
    assert asked_after == ["0", "2", "2"]


async def test_client_gives_up_after_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/runs/r":
            return httpx.Response(200, json={"run_id": "r", "state": "running", "last_seq": 1})
        return httpx.Response(200, stream=_CutStream(b""))

    async with ExecutorClient(
        "http://executor", "t", retries=2, retry_backoff=0.01, transport=httpx.MockTransport(handler)
    ) as client:
        with pytest.raises(ExecutorUnavailable, match="event stream broke"):
            await collect(client, "r")
