"""Prompt templates of scheduled runs: rendered from the scheduled time in the schedule's zone, deterministically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from core.schedules import render_prompt, scheduled_time_of, unknown_placeholders

TEMPLATE = (
    "Run {{run_number}} of {{schedule}}: summarise commits of {{yesterday}} (now {{date}} {{time}}, {{datetime}})"
)


def test_placeholders_use_the_scheduled_time_in_the_schedule_zone():
    # 17:00 UTC on the 5th is 01:00 on the 6th in Shanghai: the date follows the schedule's zone, not UTC.
    scheduled = datetime(2024, 5, 5, 17, 0, 0, tzinfo=UTC)
    text = render_prompt(TEMPLATE, scheduled, "Asia/Shanghai", "daily-review", 3)
    assert text == (
        "Run 3 of daily-review: summarise commits of 2024-05-05 (now 2024-05-06 01:00:00, 2024-05-06T01:00:00+08:00)"
    )


def test_rendering_is_a_pure_function_of_its_inputs():
    scheduled = datetime(2024, 1, 31, 23, 59, 59, 999_000, tzinfo=UTC)
    first = render_prompt(TEMPLATE, scheduled, "UTC", "s", 1)
    assert first == render_prompt(TEMPLATE, scheduled, "UTC", "s", 1)
    # The same instant given in another offset renders the same text.
    same_instant = scheduled.astimezone(timezone(timedelta(hours=-5)))
    assert render_prompt(TEMPLATE, same_instant, "UTC", "s", 1) == first
    assert "2024-01-31 23:59:59" in first  # sub-second noise is dropped


def test_naive_times_are_utc_and_daylight_saving_is_respected():
    summer = render_prompt("{{datetime}}", datetime(2024, 7, 1, 13, 0), "America/New_York", "s", 1)
    winter = render_prompt("{{datetime}}", datetime(2024, 1, 1, 13, 0), "America/New_York", "s", 1)
    assert summer == "2024-07-01T09:00:00-04:00"
    assert winter == "2024-01-01T08:00:00-05:00"


def test_spacing_inside_braces_and_unknown_placeholders():
    at = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    assert render_prompt("{{ date }}|{{date}}|{{  run_number  }}", at, "UTC", "s", 7) == "2024-03-01|2024-03-01|7"
    # Unknown ones stay as written (writes reject them, see spec_errors); single braces are plain text.
    assert render_prompt("{{nope}} {date}", at, "UTC", "s", 1) == "{{nope}} {date}"
    assert render_prompt("{{yesterday}}", at, "UTC", "s", 1) == "2024-02-29"


def test_unknown_placeholders_are_listed():
    assert unknown_placeholders("{{date}} {{data}} {{ tme }} {{date}}") == ["data", "tme"]
    assert unknown_placeholders("no placeholders, {single} braces") == []


def test_scheduled_time_is_read_back_from_the_run_workflow_id():
    assert scheduled_time_of("schedule-12-run-2024-05-06T01:00:00Z") == "2024-05-06T01:00:00Z"
    assert scheduled_time_of("task-12") is None
    assert scheduled_time_of(None) is None
