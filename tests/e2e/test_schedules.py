"""Scheduled tasks on Temporal Schedules, end to end: a real API + worker, the scripted model server and the
Temporal dev server. Every test deletes the schedules it creates and stays well under a minute."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import yaml
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from tests.conftest import STATE_DIR
from tests.e2e.teams import team_yaml
from tests.support.stack import Process, Stack
from wegent.temporal import search_attributes as sa

T = TypeVar("T")
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


# ---- helpers ---------------------------------------------------------------------------------------------


def temporal(fn: Callable[[Client], Awaitable[T]]) -> T:
    async def run() -> T:
        client = await Client.connect(
            os.environ.get("WEGENT_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
            namespace=os.environ["WEGENT_TEMPORAL_NAMESPACE"],
        )
        return await fn(client)

    return asyncio.run(run())


def describe(schedule_id: int) -> ScheduleDescription | None:
    async def go(client: Client) -> ScheduleDescription | None:
        try:
            return await client.get_schedule_handle(f"schedule-{schedule_id}").describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    return temporal(go)


def wait_for(predicate: Callable[[], T], what: str, timeout: float = 30.0, interval: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(interval)


def prefix() -> str:
    return "s" + uuid.uuid4().hex[:8]


def schedule_doc(name: str, team: str, **spec: Any) -> dict[str, Any]:
    body = {"teamRef": {"name": team}, "promptTemplate": "run {{run_number}} of {{schedule}}", **spec}
    return {"apiVersion": "agent.wecode.io/v1", "kind": "Schedule", "metadata": {"name": name}, "spec": body}


class Schedules:
    """The schedules a test made, so they are always deleted (with their Temporal schedules)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.made: list[tuple[str, dict[str, str] | None]] = []

    def apply(self, doc: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        report = self.stack.apply(yaml.safe_dump(doc), headers=headers)
        self.made.append((doc["metadata"]["name"], headers))
        assert report["results"][0]["result"] in ("created", "updated", "unchanged"), report
        return self.by_name(doc["metadata"]["name"], headers)

    def by_name(self, name: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.stack.request("GET", "/api/v1/schedules", headers=headers)
        assert response.status_code == 200, response.text
        found = [s for s in response.json()["items"] if s["name"] == name]
        assert found, f"schedule {name} not listed"
        return found[0]

    def get(self, schedule_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.stack.request("GET", f"/api/v1/schedules/{schedule_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def runs(self, schedule_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.stack.request("GET", f"/api/v1/schedules/{schedule_id}/runs", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, schedule_id: int, action: str, **kwargs: Any) -> dict[str, Any]:
        response = self.stack.request("POST", f"/api/v1/schedules/{schedule_id}/{action}", **kwargs)
        assert response.status_code in (200, 202), response.text
        return response.json()

    def cleanup(self) -> None:
        for name, headers in self.made:
            self.stack.request("DELETE", f"/api/v1/namespaces/default/schedules/{name}", headers=headers)
        # Runs still going would keep streaming from the model server into the next test.
        for task in self.stack.request("GET", "/api/v1/tasks", params={"limit": 200}).json()["items"]:
            if task.get("scheduleId") and task["state"] not in TERMINAL:
                self.stack.request("POST", f"/api/v1/tasks/{task['id']}/cancel")


@pytest.fixture(scope="module")
def stack(stack_factory_module) -> Stack:  # type: ignore[no-untyped-def]
    return stack_factory_module("local")


@pytest.fixture
def schedules(stack: Stack) -> Iterator[Schedules]:
    made = Schedules(stack)
    yield made
    made.cleanup()


@pytest.fixture
def team(stack: Stack, model) -> str:  # type: ignore[no-untyped-def]
    p = prefix()
    stack.apply(team_yaml(p, model.openai_base_url, [{"bot": "solo"}], collaboration="solo"))
    return f"{p}-team"


def restart_api(stack: Stack) -> None:
    assert stack.api is not None
    stack.api.stop()
    stack.api = Process(
        f"{stack.name}-api-{uuid.uuid4().hex[:4]}",
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(stack.port)],
        stack.env,
        stack.log_dir,
    )
    stack._wait_ready()


def make_user(stack: Stack) -> dict[str, str]:
    username, password = f"u{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12)
    response = stack.request("POST", "/api/v1/admin/users", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return stack.login(username, password)


# ---- tests -----------------------------------------------------------------------------------------------


def test_every_two_seconds_runs_tasks_then_pause_and_resume(stack, schedules, team):
    name = prefix()
    created = schedules.apply(
        schedule_doc(
            name,
            team,
            interval="2s",
            timezone="Asia/Shanghai",
            promptTemplate="run {{run_number}} of {{schedule}} at {{time}} on {{date}}",
        )
    )
    sid = created["id"]
    assert created["temporalScheduleId"] == f"schedule-{sid}"
    assert created["consoleUrl"].endswith(
        f"/namespaces/{os.environ['WEGENT_TEMPORAL_NAMESPACE']}/schedules/schedule-{sid}"
    )
    assert created["status"]["state"] == "Active" and created["status"]["synced"] is True

    # The Temporal schedule mirrors the resource.
    desc = describe(sid)
    assert desc is not None
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id) == ("TaskWorkflow", f"schedule-{sid}-run")
    assert action.task_queue == stack.env["WEGENT_TASK_QUEUE"]
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert [i.every for i in desc.schedule.spec.intervals] == [timedelta(seconds=2)]
    assert desc.schedule.spec.time_zone_name == "Asia/Shanghai"
    assert desc.typed_search_attributes.get(sa.SCHEDULE_ID) == sid

    # At least two runs happen and complete, each an ordinary task linked to the schedule.
    wait_for(lambda: schedules.runs(sid)["runs"]["succeeded"] >= 2, "two completed runs")
    runs = schedules.runs(sid)
    done = sorted((t for t in runs["items"] if t["state"] == "COMPLETED"), key=lambda t: t["id"])
    assert runs["runs"]["failed"] == 0
    first = stack.task(done[0]["id"])
    assert first["scheduleId"] == sid
    assert first["labels"] == {"wegent.io/schedule": name}
    assert first["workflowId"].startswith(f"schedule-{sid}-run-")
    assert first["consoleUrl"].endswith("/workflows/" + first["workflowId"])
    # The prompt is rendered from the scheduled time (in the workflow id), in the schedule's zone.
    scheduled = datetime.fromisoformat(done[0]["scheduledTime"].replace("Z", "+00:00"))
    local = scheduled.astimezone(ZoneInfo("Asia/Shanghai"))
    expected = f"run 1 of {name} at {local:%H:%M:%S} on {local:%Y-%m-%d}"
    assert first["prompt"] == expected
    assert [m["content"] for m in first["messages"]] == [expected, "echo: " + expected]
    assert stack.task(done[1]["id"])["prompt"].startswith("run 2 of ")

    async def search_attribute(client: Client) -> Any:
        return (await client.get_workflow_handle(first["workflowId"]).describe()).typed_search_attributes.get(
            sa.SCHEDULE_ID
        )

    assert temporal(search_attribute) == sid

    # Pause: no new runs (once the one in flight, if any, is done).
    paused = schedules.post(sid, "pause")
    assert paused["enabled"] is False and paused["status"]["state"] == "Paused"
    assert describe(sid).schedule.state.paused is True  # type: ignore[union-attr]
    # Once Temporal has no run of it open and no run's task is active, nothing else may start.
    wait_for(lambda: not describe(sid).info.running_actions, "no run open in Temporal")  # type: ignore[union-attr]
    wait_for(lambda: schedules.runs(sid)["runs"]["active"] == 0, "in-flight run finished")
    before = schedules.runs(sid)["total"]
    time.sleep(5)
    assert schedules.runs(sid)["total"] == before
    assert schedules.get(sid)["status"]["nextRunTimes"] == []

    # Resume: runs come again.
    resumed = schedules.post(sid, "resume")
    assert resumed["enabled"] is True and resumed["status"]["state"] == "Active"
    assert describe(sid).schedule.state.paused is False  # type: ignore[union-attr]
    wait_for(lambda: schedules.runs(sid)["total"] > before, "a run after resume", timeout=15)
    status = schedules.get(sid)["status"]
    assert status["runs"]["succeeded"] >= 2 and status["lastRun"]["taskId"] > done[-1]["id"]
    assert len(status["nextRunTimes"]) > 0


def test_trigger_now_runs_api_scope_and_cli(stack, schedules, team, monkeypatch, capsys, tmp_path):
    name = prefix()
    sid = schedules.apply(schedule_doc(name, team, interval="1h", promptTemplate="{{schedule}} #{{run_number}}"))["id"]
    assert schedules.runs(sid)["total"] == 0

    triggered = schedules.post(sid, "trigger")
    assert triggered["triggered"] is True and triggered["consoleUrl"].endswith(f"/schedules/schedule-{sid}")
    wait_for(lambda: schedules.runs(sid)["runs"]["succeeded"] == 1, "the triggered run completed")
    runs = schedules.runs(sid)
    assert runs["total"] == 1 and runs["items"][0]["title"].startswith(f"[{name} #1]")
    assert runs["schedule"]["consoleUrl"] == triggered["consoleUrl"]
    status = schedules.get(sid)["status"]
    assert status["runs"] == {"total": 1, "succeeded": 1, "failed": 0, "cancelled": 0, "active": 0}
    assert status["lastRun"]["state"] == "COMPLETED"
    assert status["temporal"]["actions"] >= 1
    # The generic resource read shows the same status.
    doc = stack.request("GET", f"/api/v1/namespaces/default/schedules/{name}").json()
    assert doc["status"]["temporalScheduleId"] == f"schedule-{sid}" and doc["status"]["runs"]["succeeded"] == 1

    # Another user neither sees nor acts on it.
    other = make_user(stack)
    assert all(s["id"] != sid for s in stack.request("GET", "/api/v1/schedules", headers=other).json()["items"])
    for method, path in [
        ("GET", f"/api/v1/schedules/{sid}"),
        ("GET", f"/api/v1/schedules/{sid}/runs"),
        ("POST", f"/api/v1/schedules/{sid}/trigger"),
        ("POST", f"/api/v1/schedules/{sid}/pause"),
        ("POST", f"/api/v1/schedules/{sid}/resume"),
        ("DELETE", f"/api/v1/schedules/{sid}"),
    ]:
        assert stack.request(method, path, headers=other).status_code == 404, (method, path)
    response = stack.request(
        "POST",
        f"/api/v1/schedules/{sid}/backfill",
        headers=other,
        json={"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"},
    )
    assert response.status_code == 404

    # The CLI speaks the same API, by id or by name.
    from cli.main import main as cli

    monkeypatch.setenv("WEGENT_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("WEGENT_API_URL", stack.url)
    monkeypatch.setenv("WEGENT_TOKEN", stack.headers["Authorization"].removeprefix("Bearer "))

    def run(*argv: str) -> str:
        with pytest.raises(SystemExit) as exit_info:
            cli(list(argv))
        out = capsys.readouterr()
        assert exit_info.value.code == 0, out.err
        return out.out

    assert name in run("schedules", "list")
    assert "1 run(s): 1 succeeded" in run("schedules", "runs", name)
    assert "paused" in run("schedules", "pause", str(sid))
    assert "resumed" in run("schedules", "resume", name)
    assert "triggered" in run("schedules", "trigger", name)
    wait_for(lambda: schedules.runs(sid)["runs"]["succeeded"] == 2, "the CLI-triggered run completed")


def test_overlap_skip_skips_runs_while_a_slow_one_is_running(stack, schedules, team, model):
    model.script([{"match": "*", "text": "slow answer " * 6, "chunk_delay": 0.4}])  # ~7 s per run
    sid = schedules.apply(schedule_doc(prefix(), team, interval="1s", overlap="skip"))["id"]
    most_active = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        most_active = max(most_active, schedules.runs(sid)["runs"]["active"])
        time.sleep(0.3)
    schedules.post(sid, "pause")
    desc = describe(sid)
    assert desc is not None
    # Ten 1-second slots passed, at most two runs started; the rest were skipped, not piled up.
    assert desc.info.num_actions_skipped_overlap >= 3
    assert schedules.runs(sid)["total"] <= 2
    assert most_active <= 1
    assert schedules.get(sid)["status"]["temporal"]["skippedOverlap"] >= 3


def test_max_runs_makes_exactly_that_many_tasks(stack, schedules, team):
    sid = schedules.apply(schedule_doc(prefix(), team, interval="1s", maxRuns=2))["id"]
    wait_for(lambda: schedules.runs(sid)["runs"]["succeeded"] >= 2, "two completed runs", timeout=60)
    # Many more 1-second slots pass: no third run, and Temporal says none remain.
    time.sleep(4)
    assert schedules.runs(sid)["total"] == 2
    desc = describe(sid)
    assert desc is not None and desc.schedule.state.remaining_actions == 0


def test_end_at_stops_the_schedule(stack, schedules, team):
    end = datetime.now(UTC) + timedelta(seconds=6)
    sid = schedules.apply(schedule_doc(prefix(), team, interval="1s", endAt=end.isoformat().replace("+00:00", "Z")))[
        "id"
    ]
    wait_for(lambda: schedules.runs(sid)["total"] >= 1, "a run before endAt", timeout=30)
    wait_for(lambda: datetime.now(UTC) > end + timedelta(seconds=1), "endAt passed", timeout=30)
    wait_for(lambda: schedules.runs(sid)["runs"]["active"] == 0, "runs before endAt finished", timeout=60)
    total = schedules.runs(sid)["total"]
    time.sleep(4)
    assert schedules.runs(sid)["total"] == total
    assert schedules.get(sid)["status"]["nextRunTimes"] == []


def test_backfill_over_a_past_window_creates_the_expected_runs(stack, schedules, team):
    name = prefix()
    # Daily at 09:00 in Shanghai (01:00 UTC), paused: only the backfill starts runs.
    sid = schedules.apply(
        schedule_doc(
            name,
            team,
            cron="0 9 * * *",
            timezone="Asia/Shanghai",
            enabled=False,
            promptTemplate="report for {{date}} ({{datetime}}) #{{run_number}}",
        )
    )["id"]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=4), today - timedelta(days=1)
    expected = [today - timedelta(days=d) + timedelta(hours=1) for d in (4, 3, 2)]

    # Bad windows are refused, naming the field.
    for body, field in [
        ({"start": end.isoformat(), "end": start.isoformat()}, "end"),
        ({"start": start.isoformat(), "end": (today + timedelta(days=2)).isoformat()}, "end"),
        ({"start": "2020-01-01T00:00:00Z", "end": end.isoformat()}, "end"),  # more than 100 runs
    ]:
        response = stack.request("POST", f"/api/v1/schedules/{sid}/backfill", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field

    result = schedules.post(sid, "backfill", json={"start": start.isoformat(), "end": end.isoformat()})
    assert result["backfill"]["expectedRuns"] == [t.isoformat().replace("+00:00", "Z") for t in expected]
    wait_for(lambda: schedules.runs(sid)["runs"]["succeeded"] == 3, "three backfilled runs completed", timeout=40)
    runs = schedules.runs(sid)
    assert runs["total"] == 3
    assert sorted(t["scheduledTime"] for t in runs["items"]) == result["backfill"]["expectedRuns"]
    prompts = sorted(stack.task(t["id"])["prompt"].rsplit(" #", 1)[0] for t in runs["items"])
    shanghai = [t.astimezone(ZoneInfo("Asia/Shanghai")) for t in expected]
    assert prompts == [f"report for {t:%Y-%m-%d} ({t.isoformat()})" for t in shanghai]
    assert sorted(stack.task(t["id"])["prompt"].rsplit("#", 1)[1] for t in runs["items"]) == ["1", "2", "3"]


def test_create_update_disable_delete_follow_the_resource(stack, schedules, team):
    name = prefix()
    sid = schedules.apply(schedule_doc(name, team, interval="1h", overlap="allow_all"))["id"]
    desc = describe(sid)
    assert desc is not None and desc.schedule.policy.overlap == ScheduleOverlapPolicy.ALLOW_ALL

    # Update through the resource API: the Temporal schedule follows.
    current = stack.request("GET", f"/api/v1/namespaces/default/schedules/{name}").json()
    current["spec"].update(interval=None, cron="30 8 * * 1-5", timezone="Europe/Paris", overlap="cancel_previous")
    del current["spec"]["interval"]
    response = stack.request("PUT", f"/api/v1/namespaces/default/schedules/{name}", json=current)
    assert response.status_code == 200, response.text
    assert response.json()["status"]["synced"] is True
    desc = describe(sid)
    assert desc is not None
    assert desc.schedule.spec.intervals == [] and desc.schedule.spec.time_zone_name == "Europe/Paris"
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.CANCEL_OTHER
    next_local = [t.astimezone(ZoneInfo("Europe/Paris")) for t in desc.info.next_action_times[:3]]
    assert all((t.hour, t.minute) == (8, 30) and t.weekday() < 5 for t in next_local)

    # Disable through apply: paused in Temporal.
    schedules.apply(schedule_doc(name, team, cron="30 8 * * 1-5", timezone="Europe/Paris", enabled=False))
    assert describe(sid).schedule.state.paused is True  # type: ignore[union-attr]
    assert schedules.get(sid)["status"]["state"] == "Paused"

    # Delete the resource: the Temporal schedule is gone.
    response = stack.request("DELETE", f"/api/v1/namespaces/default/schedules/{name}")
    assert response.status_code == 200, response.text
    assert response.json()["temporal"] == {"scheduleId": f"schedule-{sid}", "deleted": True}
    assert describe(sid) is None
    assert stack.request("GET", f"/api/v1/schedules/{sid}").status_code == 404


def test_reconcile_at_api_start_repairs_drift(stack, schedules, team):
    missing = schedules.apply(schedule_doc(prefix(), team, interval="1h"))["id"]
    paused = schedules.apply(schedule_doc(prefix(), team, interval="1h"))["id"]
    orphan = "schedule-987654321"
    queue = stack.env["WEGENT_TASK_QUEUE"]

    async def meddle(client: Client) -> None:
        await client.get_schedule_handle(f"schedule-{missing}").delete()
        await client.get_schedule_handle(f"schedule-{paused}").pause(note="paused behind Wegent's back")
        await client.create_schedule(
            orphan,
            Schedule(
                action=ScheduleActionStartWorkflow("TaskWorkflow", id=f"{orphan}-run", task_queue=queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
                state=ScheduleState(paused=True),
            ),
        )

    temporal(meddle)
    # Reads report the drift without touching Temporal.
    status = schedules.get(missing)["status"]
    assert status["state"] == "NotSynced" and "missing" in status["message"]
    assert schedules.get(paused)["status"]["synced"] is False

    restart_api(stack)
    wait_for(lambda: describe(missing) is not None, "the deleted schedule recreated")
    wait_for(lambda: describe(paused).schedule.state.paused is False, "the paused schedule resumed")  # type: ignore[union-attr]
    wait_for(lambda: describe(int(orphan.split("-")[1])) is None, "the orphan deleted")

    repaired = schedules.get(missing)["status"]
    assert repaired["state"] == "Active" and repaired["synced"] is True
    assert repaired["lastDrift"]["drift"] == ["missing"] and repaired["lastDrift"]["repairedBy"] == "reconcile"
    assert schedules.get(paused)["status"]["lastDrift"]["drift"] == ["paused"]
    assert stack.api is not None
    log = stack.api.log_path.read_text()
    assert "schedule.drift_repaired" in log and orphan in log


def test_invalid_schedules_are_422_naming_the_field(stack, schedules, team):
    def apply_errors(doc: dict[str, Any]) -> list[str]:
        response = stack.request("POST", "/api/v1/namespaces/default/apply", content=yaml.safe_dump(doc).encode())
        assert response.status_code == 422, response.text
        return [e["field"] for r in response.json()["results"] for e in r["errors"]]

    name = prefix()
    assert apply_errors(schedule_doc(name, team, cron="99 * * * *")) == ["spec.cron"]
    assert apply_errors(schedule_doc(name, team, cron="0 0 9 * * 1")) == ["spec.cron"]  # 6 fields: ambiguous
    assert apply_errors(schedule_doc(name, team, interval="5m", timezone="Mars/Olympus")) == ["spec.timezone"]
    assert apply_errors(schedule_doc(name, "no-such-team", interval="5m")) == ["spec.teamRef"]
    assert apply_errors(schedule_doc(name, team, interval="5m", promptTemplate="{{tomorrow}}")) == [
        "spec.promptTemplate"
    ]

    for path in ("/api/v1/namespaces/default/schedules", "/api/v1/schedules"):
        response = stack.request("POST", path, json=schedule_doc(name, team, interval="5m", timezone="Nowhere/X"))
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["spec.timezone"]
        response = stack.request("POST", path, json=schedule_doc(name, "ghost-team", interval="5m"))
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["spec.teamRef"]
    assert all(s["name"] != name for s in stack.request("GET", "/api/v1/schedules").json()["items"])

    # The schedules endpoint creates valid ones too (and they are mirrored at once).
    response = stack.request("POST", "/api/v1/schedules", json=schedule_doc(name, team, interval="1h"))
    assert response.status_code == 201, response.text
    schedules.made.append((name, None))
    assert describe(response.json()["id"]) is not None


def test_temporal_down_is_reported_not_a_500(stack, team):
    log_dir = STATE_DIR / "logs"
    down = Stack({"WEGENT_TEMPORAL_ADDRESS": "127.0.0.1:1", "WEGENT_EXECUTOR_BACKEND": "local"}, log_dir, "down")
    down.start(workers=0)
    name = prefix()
    try:
        report = down.apply(yaml.safe_dump(schedule_doc(name, team, interval="1h")))
        result = report["results"][0]
        assert result["result"] == "created"
        assert "was not updated" in result["detail"] and "next API start" in result["detail"]
        doc = down.request("GET", f"/api/v1/namespaces/default/schedules/{name}").json()
        assert doc["status"]["state"] == "NotSynced" and doc["status"]["synced"] is False
        sid = int(doc["status"]["temporalScheduleId"].split("-")[1])
        response = down.request("POST", f"/api/v1/schedules/{sid}/trigger")
        assert response.status_code == 503 and "Temporal" in response.json()["detail"]
        listed = down.request("GET", "/api/v1/schedules")
        assert listed.status_code == 200
        # The stack with Temporal repairs it on its next write or reconcile; deleting here reports the gap.
        deleted = down.request("DELETE", f"/api/v1/namespaces/default/schedules/{name}")
        assert deleted.status_code == 200, deleted.text
        assert (
            deleted.json()["temporal"]["deleted"] is False and "next API start" in deleted.json()["temporal"]["message"]
        )
    finally:
        down.request("DELETE", f"/api/v1/namespaces/default/schedules/{name}")
        down.stop()
    assert describe(sid) is None
