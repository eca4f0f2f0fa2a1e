"""The model gateway's prefetched checks, on the real database: a step's worker has the gateway check the step's key
while the run starts, and the run's first call uses that check instead of making its own.

A prefetched check stands in for one call only, for at most ``PREFETCH_SECONDS``; anything else checks afresh,
and a prefetch tells nothing about the key it was given.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select, update

from activities.gateway import app as gateway_app
from activities.gateway.app import Gateway
from activities.tokens import GatewayScope, gateway_key
from core.db.models import Resource, Task
from core.db.session import get_sessionmaker
from tests.e2e.teams import team_yaml
from tests.support.model_server import ModelServer
from wegent.crypto import get_keyring

APPLY = "/api/v1/namespaces/default/apply"
BODY = {"model": "scripted", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module")
def model() -> Iterator[ModelServer]:
    server = ModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def running_task(client, make_user, model) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A RUNNING task of a fresh user whose Model is the scripted server, and its step's gateway key."""
    owner_id, headers = make_user()
    prefix = "pf" + uuid.uuid4().hex[:6]
    applied = client.post(
        APPLY,
        content=team_yaml(prefix, model.openai_base_url, [{"bot": "one"}], collaboration="solo"),
        headers={**headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    with get_sessionmaker()() as db:
        model_id = db.scalar(select(Resource.id).where(Resource.kind == "Model", Resource.name == f"{prefix}-model"))
        task = Task(owner_id=owner_id, team_name=f"{prefix}-team", prompt="p", state="RUNNING")
        db.add(task)
        db.flush()
        task.workflow_id = f"task-{task.id}"
        db.commit()
        task_id = task.id
    return task_id, gateway_key(f"task-{task_id}", GatewayScope(task_id, int(model_id), 1, 1, 1))


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    gw = Gateway(get_sessionmaker(), get_keyring())
    transport = httpx.ASGITransport(app=gw.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield gw, http
    await gw.close()


def _finish(task_id: int) -> None:
    with get_sessionmaker()() as db:
        db.execute(update(Task).where(Task.id == task_id).values(state="COMPLETED"))
        db.commit()


async def _call(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"})


async def _prefetched(gw: Gateway, http: httpx.AsyncClient, key: str) -> None:
    answer = await http.post("/prefetch", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 202
    done, _ = await asyncio.wait({gw._prefetched[key][1]}, timeout=10)
    assert done  # the check ran (granted or refused): a call would have waited for it otherwise


async def test_the_next_call_uses_the_prefetched_check_once(running_task, gateway) -> None:  # type: ignore[no-untyped-def]
    task_id, key = running_task
    gw, http = gateway
    await _prefetched(gw, http, key)
    _finish(task_id)  # after the check: the one call it stands in for still goes through, as if already under way

    first = await _call(http, key)
    assert first.status_code == 200, first.text
    second = await _call(http, key)  # checks afresh: the task is over
    assert second.status_code == 403
    assert second.json()["error"]["type"] == "task_finished"


async def test_a_prefetched_check_older_than_its_limit_is_not_used(running_task, gateway, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    task_id, key = running_task
    gw, http = gateway
    monkeypatch.setattr(gateway_app, "PREFETCH_SECONDS", 0.05)
    await _prefetched(gw, http, key)
    _finish(task_id)
    await asyncio.sleep(0.1)

    late = await _call(http, key)
    assert late.status_code == 403
    assert late.json()["error"]["type"] == "task_finished"


async def test_a_prefetch_with_a_forged_key_answers_the_same_and_grants_nothing(running_task, gateway) -> None:  # type: ignore[no-untyped-def]
    _, key = running_task
    gw, http = gateway
    forged = key[:-4] + "0000"
    await _prefetched(gw, http, forged)
    assert (await http.post("/prefetch")).status_code == 202  # no key at all: the same answer

    refused = await _call(http, forged)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "missing or invalid gateway key"
    assert (await _call(http, key)).status_code == 200  # the real key is not affected
