"""The `create_scheduled_task` activity on the real database: one task per run, however often it is retried."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleIntervalSpec, ScheduleSpec
from temporalio.client import ScheduleState as TemporalScheduleState
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities.context import WorkerContext
from activities.relay import NullRelay
from activities.schedule_activities import ScheduleActivities
from core.db.models import Message, Resource, Task
from core.db.session import get_sessionmaker
from core.schedules import create_run_task
from wegent.config import get_settings
from wegent.crypto import get_keyring
from workflows.models import ScheduledRun


def _apply(client, headers, docs: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/namespaces/default/apply", content=yaml.safe_dump_all(docs).encode(), headers=headers
    )
    assert response.status_code == 200, response.text


def _team_docs(prefix: str) -> list[dict[str, Any]]:
    return [
        {"kind": "Ghost", "metadata": {"name": f"{prefix}-g"}, "spec": {"systemPrompt": "hi"}},
        {"kind": "Shell", "metadata": {"name": f"{prefix}-sh"}, "spec": {"shellType": "Chat"}},
        {"kind": "Model", "metadata": {"name": f"{prefix}-m"}, "spec": {"baseUrl": "http://127.0.0.1:9/v1"}},
        {
            "kind": "Bot",
            "metadata": {"name": f"{prefix}-b"},
            "spec": {
                "ghostRef": {"name": f"{prefix}-g"},
                "shellRef": {"name": f"{prefix}-sh"},
                "modelRef": {"name": f"{prefix}-m"},
            },
        },
        {
            "kind": "Team",
            "metadata": {"name": f"{prefix}-team"},
            "spec": {"collaborationModel": "solo", "members": [{"botRef": {"name": f"{prefix}-b"}}]},
        },
    ]


@pytest.fixture
def schedule(client, admin_headers):  # type: ignore[no-untyped-def]
    """A paused Schedule (it never fires by itself) in Asia/Shanghai; deleted afterwards."""
    prefix = "r" + uuid.uuid4().hex[:8]
    doc = {
        "kind": "Schedule",
        "metadata": {"name": f"{prefix}-sched", "displayName": "Daily review"},
        "spec": {
            "teamRef": {"name": f"{prefix}-team"},
            "promptTemplate": "{{schedule}} #{{run_number}} for {{date}} {{time}}",
            "cron": "0 9 * * 1-5",
            "timezone": "Asia/Shanghai",
            "enabled": False,
        },
    }
    _apply(client, admin_headers, [*_team_docs(prefix), doc])
    with get_sessionmaker()() as db:
        row = db.scalar(select(Resource).where(Resource.kind == "Schedule", Resource.name == f"{prefix}-sched"))
        assert row is not None
        info = {"id": row.id, "name": row.name, "prefix": prefix}
    yield info
    client.delete(f"/api/v1/namespaces/default/schedules/{prefix}-sched", headers=admin_headers)


def _run(schedule_id: int, when: str = "2024-05-06T01:00:00Z") -> ScheduledRun:
    return ScheduledRun(
        schedule_id=schedule_id,
        workflow_id=f"schedule-{schedule_id}-run-{when}",
        scheduled_time=when.replace("Z", "+00:00"),
    )


def _create(run: ScheduledRun) -> Any:
    from datetime import UTC, datetime

    with get_sessionmaker()() as db:
        return create_run_task(db, run, datetime(2000, 1, 1, tzinfo=UTC))


def test_a_run_becomes_one_task_with_the_rendered_prompt(schedule):
    first = _create(_run(schedule["id"]))
    again = _create(_run(schedule["id"]))  # a retried activity
    assert first.created and not again.created
    assert again.task_id == first.task_id
    with get_sessionmaker()() as db:
        task = db.get(Task, first.task_id)
        assert task is not None
        # 01:00 UTC is 09:00 in Shanghai; the display name stands for {{schedule}}.
        assert task.prompt == "Daily review #1 for 2024-05-06 09:00:00"
        assert task.workflow_id == f"schedule-{schedule['id']}-run-2024-05-06T01:00:00Z"
        assert task.schedule_id == schedule["id"]
        assert task.labels == {"wegent.io/schedule": schedule["name"]}
        assert task.title.startswith(f"[{schedule['name']} #1] ")
        assert task.state == "PENDING"
        messages = list(db.scalars(select(Message).where(Message.task_id == task.id)))
        assert [(m.role, m.content) for m in messages] == [("user", task.prompt)]
        status = db.get(Resource, schedule["id"]).status  # type: ignore[union-attr]
        assert status["runs"]["total"] == 1 and status["lastRun"]["taskId"] == task.id

    second = _create(_run(schedule["id"], "2024-05-07T01:00:00Z"))
    assert second.created and second.run_number == 2
    assert first.summary["scheduleId"] == schedule["id"]


def test_concurrent_attempts_of_one_run_create_one_task(schedule):
    run = _run(schedule["id"], "2024-06-01T01:00:00Z")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _create(run), range(4)))
    assert len({r.task_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    with get_sessionmaker()() as db:
        assert db.scalar(select(func.count()).select_from(Task).where(Task.workflow_id == run.workflow_id)) == 1


def _activities(client: Client | None = None) -> tuple[ScheduleActivities, ActivityEnvironment]:
    settings = get_settings()
    ctx = WorkerContext(
        settings=settings,
        sessions=get_sessionmaker(),
        keyring=get_keyring(),
        backend=None,  # type: ignore[arg-type]  # not used by this activity
        relay=NullRelay(),
        host="test",
    )
    return ScheduleActivities(ctx), ActivityEnvironment(client)


async def test_the_activity_returns_the_task_id(schedule):
    acts, env = _activities()
    run = _run(schedule["id"], "2024-07-01T01:00:00Z")
    task_id = await env.run(acts.create_scheduled_task, run)
    assert task_id == await env.run(acts.create_scheduled_task, run)
    with get_sessionmaker()() as db:
        assert db.get(Task, task_id).workflow_id == run.workflow_id  # type: ignore[union-attr]


async def test_a_broken_team_fails_the_run_for_good_and_shows_in_the_status(client, admin_headers, schedule):
    response = client.delete(
        f"/api/v1/namespaces/default/teams/{schedule['prefix']}-team", params={"force": "true"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    acts, env = _activities()
    run = _run(schedule["id"], "2024-08-01T01:00:00Z")
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.create_scheduled_task, run)
    assert err.value.non_retryable and err.value.type == "InvalidSchedule"
    assert "does not exist" in str(err.value)
    with get_sessionmaker()() as db:
        status = db.get(Resource, schedule["id"]).status  # type: ignore[union-attr]
        assert status["lastError"]["workflowId"] == run.workflow_id
        assert db.scalar(select(Task).where(Task.workflow_id == run.workflow_id)) is None


async def test_a_run_of_a_deleted_schedule_fails_and_removes_the_orphan_temporal_schedule():
    client = await Client.connect(
        os.environ.get("WEGENT_TEMPORAL_ADDRESS", "127.0.0.1:7233"), namespace=os.environ["WEGENT_TEMPORAL_NAMESPACE"]
    )
    gone = 900_000_000 + uuid.uuid4().int % 1_000_000  # no resource row has this id
    await client.create_schedule(
        f"schedule-{gone}",
        Schedule(
            action=ScheduleActionStartWorkflow("TaskWorkflow", id=f"schedule-{gone}-run", task_queue="nobody-polls"),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            state=TemporalScheduleState(paused=True),
        ),
    )
    acts, env = _activities(client)
    with pytest.raises(ApplicationError) as err:
        await env.run(acts.create_scheduled_task, _run(gone))
    assert err.value.non_retryable and err.value.type == "ScheduleDeleted"
    assert "was deleted" in str(err.value)
    with pytest.raises(RPCError) as missing:
        await client.get_schedule_handle(f"schedule-{gone}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_a_refused_run_recorded_while_the_api_refreshes_the_status_is_not_lost(client, admin_headers, schedule):
    """The API reads a schedule, asks Temporal, then writes the status; a worker's refusal recorded in between
    must survive that write (it used to be overwritten, and the schedule never showed why its run failed)."""
    from core.schedules.operations import refresh
    from core.schedules.records import _snapshot
    from core.schedules.run_tasks import record_run_error

    with get_sessionmaker()() as db:
        before = _snapshot(db, schedule["id"])  # the API's read, before the run is refused
    assert before is not None and "lastError" not in before.status
    with get_sessionmaker()() as db:
        record_run_error(db, schedule["id"], "schedule-run-refused", "cannot start a task: its owner is disabled")
    after = await refresh(before)
    assert after.status["lastError"]["workflowId"] == "schedule-run-refused"
    shown = client.get(f"/api/v1/schedules/{schedule['id']}", headers=admin_headers).json()["status"]
    assert shown["lastError"]["message"] == "cannot start a task: its owner is disabled"


def _stored_status_and_generation(schedule_id: int) -> tuple[dict[str, Any], int]:
    from core.db.models import User

    with get_sessionmaker()() as db:
        row = db.get(Resource, schedule_id)
        assert row is not None
        owner = db.get(User, row.owner_id)
        assert owner is not None
        return dict(row.status), owner.resource_generation


def test_looking_at_a_schedule_again_writes_nothing(client, admin_headers, schedule):
    """A client polling a schedule must not rewrite its row (and empty its owner's LIST caches) on every look:
    only a status that changed is stored; the answer still says when Temporal was last checked."""
    url = f"/api/v1/schedules/{schedule['id']}"
    first = client.get(url, headers=admin_headers)
    assert first.status_code == 200, first.text
    stored, generation = _stored_status_and_generation(schedule["id"])
    for _ in range(3):
        again = client.get(url, headers=admin_headers)
        assert again.status_code == 200, again.text
        assert again.json()["status"]["syncedAt"] >= first.json()["status"]["syncedAt"]
    assert _stored_status_and_generation(schedule["id"]) == (stored, generation)

    # A change is still stored, once: here a refused run recorded by a worker, then shown.
    from core.schedules.run_tasks import record_run_error

    with get_sessionmaker()() as db:
        record_run_error(db, schedule["id"], "schedule-run-refused", "cannot start a task: its owner is disabled")
    shown = client.get(url, headers=admin_headers).json()["status"]
    assert shown["lastError"]["workflowId"] == "schedule-run-refused"
    stored, generation = _stored_status_and_generation(schedule["id"])
    assert stored["lastError"] == shown["lastError"]
    client.get(url, headers=admin_headers)
    assert _stored_status_and_generation(schedule["id"]) == (stored, generation)


async def test_a_mirror_keeps_a_refusal_recorded_while_it_asked_temporal(schedule, monkeypatch):
    """Mirroring reads the row, talks to Temporal, then stores the status: a worker's refusal recorded meanwhile
    stays (it used to be overwritten by the status composed from the earlier read)."""
    import asyncio

    from core.schedules import mirroring
    from core.schedules.run_tasks import record_run_error

    original = mirroring._describe
    recorded: list[bool] = []

    async def describe_while_a_worker_refuses(handle):  # type: ignore[no-untyped-def]
        if not recorded:
            recorded.append(True)

            def refuse() -> None:
                with get_sessionmaker()() as db:
                    record_run_error(db, schedule["id"], "schedule-run-meanwhile", "its owner is disabled")

            await asyncio.to_thread(refuse)
        return await original(handle)

    monkeypatch.setattr(mirroring, "_describe", describe_while_a_worker_refuses)
    result = await mirroring.mirror(schedule["id"], reason="action")
    assert recorded and result.outcome != "failed"
    assert result.status["lastError"]["workflowId"] == "schedule-run-meanwhile"
    stored, _ = _stored_status_and_generation(schedule["id"])
    assert stored["lastError"]["workflowId"] == "schedule-run-meanwhile"
