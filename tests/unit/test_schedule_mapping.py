"""A Schedule resource's Temporal mirror, extra validation, backfill windows and status (pure parts)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from core.db.models import Task
from core.schedules import (
    Snapshot,
    backfill_times,
    compose_status,
    console_url,
    desired_schedule,
    spec_errors,
    temporal_id,
)
from core.tasks import task_input
from wegent.config import Settings, get_settings
from wegent.resources import validate_document
from wegent.temporal import search_attributes as sa
from workflows.models import TaskInput

SETTINGS = Settings(
    WEGENT_TASK_QUEUE="queue-a",
    WEGENT_TEMPORAL_UI_URL="http://ui.example:8233/",
    WEGENT_TEMPORAL_NAMESPACE="ns1",
)


def spec(**overrides):  # type: ignore[no-untyped-def]
    base = {"teamRef": {"name": "review", "namespace": "default"}, "promptTemplate": "hi {{date}}", "interval": "2s"}
    base.update(overrides)
    doc, normalized, errors = validate_document({"kind": "Schedule", "metadata": {"name": "s"}, "spec": base})
    assert not errors, errors
    assert normalized is not None
    return normalized


def test_interval_schedule_starts_task_workflow_on_the_task_queue():
    desired = desired_schedule(42, spec(), "alice", 0, SETTINGS)
    action = desired.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "TaskWorkflow"
    assert action.id == "schedule-42-run"
    assert action.task_queue == "queue-a"
    (payload,) = action.args
    # Like an ordinary task's input (idle times from the settings), but with no task yet and the schedule's id.
    current = get_settings()
    assert isinstance(payload, TaskInput)
    assert (payload.task_id, payload.schedule_id) == (0, 42)
    assert payload.executor_idle_seconds == current.executor_idle_seconds
    assert payload.task_idle_seconds == current.task_idle_seconds
    assert payload == replace(task_input(Task(id=7)), task_id=0, schedule_id=42)
    assert action.typed_search_attributes.get(sa.SCHEDULE_ID) == 42
    assert action.typed_search_attributes.get(sa.USER) == "alice"
    assert action.typed_search_attributes.get(sa.TEAM) == "default/review"
    assert desired.search_attributes.get(sa.SCHEDULE_ID) == 42
    assert [i.every for i in desired.schedule.spec.intervals] == [timedelta(seconds=2)]
    assert desired.schedule.spec.cron_expressions == []
    assert desired.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desired.schedule.state.paused is False
    assert desired.schedule.state.limited_actions is False


def test_cron_schedule_keeps_its_time_zone_end_and_catchup_window():
    desired = desired_schedule(
        1,
        spec(
            interval=None,
            cron="0 9 * * 1-5",
            timezone="Asia/Shanghai",
            catchupWindow="10m",
            endAt="2030-01-01T00:00:00",  # naive: a wall-clock time in the schedule's zone
        ),
        "alice",
        0,
        SETTINGS,
    )
    temporal_spec = desired.schedule.spec
    assert temporal_spec.cron_expressions == ["0 9 * * 1-5"]
    assert temporal_spec.intervals == []
    assert temporal_spec.time_zone_name == "Asia/Shanghai"
    assert temporal_spec.end_at == datetime(2029, 12, 31, 16, 0, tzinfo=UTC)
    assert desired.schedule.policy.catchup_window == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("overlap", "policy"),
    [
        ("skip", ScheduleOverlapPolicy.SKIP),
        ("buffer_one", ScheduleOverlapPolicy.BUFFER_ONE),
        ("allow_all", ScheduleOverlapPolicy.ALLOW_ALL),
        ("cancel_previous", ScheduleOverlapPolicy.CANCEL_OTHER),
    ],
)
def test_overlap_policies(overlap: str, policy: ScheduleOverlapPolicy):
    assert desired_schedule(1, spec(overlap=overlap), "alice", 0, SETTINGS).schedule.policy.overlap == policy


def test_disabled_schedules_are_paused_and_max_runs_limit_the_actions():
    assert desired_schedule(1, spec(enabled=False), "alice", 0, SETTINGS).schedule.state.paused is True
    limited = desired_schedule(1, spec(maxRuns=5), "alice", 2, SETTINGS)
    assert (limited.schedule.state.limited_actions, limited.schedule.state.remaining_actions) == (True, 3)
    assert limited.paused is False
    done = desired_schedule(1, spec(maxRuns=5), "alice", 5, SETTINGS)
    # Temporal refuses limited_actions with nothing remaining: a finished schedule is paused instead.
    assert done.exhausted and done.paused
    assert (done.schedule.state.limited_actions, done.schedule.state.remaining_actions) == (False, 0)


def test_config_hash_tracks_what_temporal_must_mirror():
    base = desired_schedule(1, spec(), "alice", 0, SETTINGS).config_hash
    assert desired_schedule(1, spec(), "alice", 3, SETTINGS).config_hash == base
    # Pausing is compared on its own (the schedule's state), not through the hash.
    assert desired_schedule(1, spec(enabled=False), "alice", 0, SETTINGS).config_hash == base
    for changed in (
        desired_schedule(1, spec(interval="3s"), "alice", 0, SETTINGS),
        desired_schedule(1, spec(overlap="allow_all"), "alice", 0, SETTINGS),
        desired_schedule(2, spec(), "alice", 0, SETTINGS),
        desired_schedule(1, spec(), "alice", 0, SETTINGS.model_copy(update={"task_queue": "queue-b"})),
        desired_schedule(1, spec(timezone="Europe/Paris"), "alice", 0, SETTINGS),
    ):
        assert changed.config_hash != base


def test_writes_reject_ambiguous_cron_and_unknown_placeholders():
    assert spec_errors("Team", {"cron": "* * * * * *"}) == []
    assert spec_errors("Schedule", spec(interval=None, cron="@daily")) == []
    six = spec_errors("Schedule", spec(interval=None, cron="0 0 9 * * 1"))
    assert [e.field for e in six] == ["spec.cron"]
    assert "5-field" in six[0].message
    typo = spec_errors("Schedule", spec(promptTemplate="report for {{data}}"))
    assert [e.field for e in typo] == ["spec.promptTemplate"]
    assert "{{data}}" in typo[0].message


def test_schema_errors_name_the_field():
    def errors(**overrides):  # type: ignore[no-untyped-def]
        base = {"teamRef": {"name": "t"}, "promptTemplate": "x", "interval": "5m", **overrides}
        _, _, found = validate_document({"kind": "Schedule", "metadata": {"name": "s"}, "spec": base})
        return [e.field for e in found]

    assert errors(interval=None, cron="61 * * * *") == ["spec.cron"]
    assert errors(timezone="Mars/Olympus") == ["spec.timezone"]
    assert errors(interval="5 minutes") == ["spec.interval"]
    assert errors(overlap="pile_up") == ["spec.overlap"]


def test_backfill_times_include_both_ends_like_temporal():
    start = datetime(2024, 5, 6, 10, 0, 0, tzinfo=UTC)
    times = backfill_times(spec(interval="1m"), start, start + timedelta(minutes=3), 100)
    assert times == [start + timedelta(minutes=i) for i in range(4)]
    offset = backfill_times(spec(interval="1m"), start + timedelta(seconds=30), start + timedelta(minutes=3), 100)
    assert len(offset) == 3
    assert len(backfill_times(spec(interval="1s"), start, start + timedelta(hours=1), 10)) == 11


def test_backfill_times_of_a_cron_follow_its_zone():
    daily = spec(interval=None, cron="0 9 * * *", timezone="Asia/Shanghai")
    times = backfill_times(daily, datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 4, tzinfo=UTC), 100)
    # 09:00 in Shanghai is 01:00 UTC.
    assert times == [datetime(2024, 5, d, 1, 0, tzinfo=UTC) for d in (1, 2, 3)]


def test_links_and_status_without_temporal():
    assert temporal_id(5) == "schedule-5"
    assert console_url(5, SETTINGS) == "http://ui.example:8233/namespaces/ns1/schedules/schedule-5"
    stats = {"runs": {"total": 2, "succeeded": 1, "failed": 1, "cancelled": 0, "active": 0}, "lastRun": None}
    snap = Snapshot(5, "s", "default", None, 1, "alice", spec(maxRuns=2), {}, 3, stats)
    status = compose_status(snap, None, synced=True)
    assert status["state"] == "Completed"
    assert status["runs"]["succeeded"] == 1 and status["syncedVersion"] == 3
    assert status["temporalScheduleId"] == "schedule-5"
    paused = compose_status(
        Snapshot(5, "s", "default", None, 1, "alice", spec(enabled=False), {}, 3, stats), None, synced=True
    )
    assert paused["state"] == "Paused"
    broken = compose_status(snap, None, synced=False, message="not mirrored to Temporal: down")
    assert (broken["state"], broken["message"]) == ("NotSynced", "not mirrored to Temporal: down")
