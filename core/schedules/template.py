"""Prompt templates of scheduled runs (pure): placeholders rendered from the scheduled time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

PLACEHOLDERS = ("date", "time", "datetime", "yesterday", "schedule", "run_number")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_prompt(template: str, scheduled_at: datetime, timezone: str, schedule: str, run_number: int) -> str:
    """Fill a prompt template from the run's scheduled time, seen in the schedule's time zone.

    `{{date}}` 2024-05-06, `{{time}}` 09:00:00, `{{datetime}}` 2024-05-06T09:00:00+08:00, `{{yesterday}}`
    2024-05-05, `{{schedule}}` the schedule's display name (else its name), `{{run_number}}` 1 for the first run.
    A naive `scheduled_at` is taken as UTC. Unknown placeholders are left as written (writes reject them).
    """
    if scheduled_at.tzinfo is None:
        scheduled_at = scheduled_at.replace(tzinfo=UTC)
    local = scheduled_at.astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    values = {
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M:%S"),
        "datetime": local.isoformat(),
        "yesterday": (local.date() - timedelta(days=1)).isoformat(),
        "schedule": schedule,
        "run_number": str(run_number),
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def unknown_placeholders(template: str) -> list[str]:
    return sorted({m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) not in PLACEHOLDERS})
