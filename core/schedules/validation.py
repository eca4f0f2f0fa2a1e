"""Checks of a Schedule spec beyond its schema (pure), reported per field."""

from __future__ import annotations

from typing import Any

from core.schedules.names import CRON_MACROS, KIND
from core.schedules.template import PLACEHOLDERS, unknown_placeholders
from wegent.resources import FieldError


def spec_errors(kind: str, spec: dict[str, Any]) -> list[FieldError]:
    """What a Schedule needs on top of its schema to be mirrored faithfully; checked before any commit."""
    if kind != KIND:
        return []
    errors: list[FieldError] = []
    cron = spec.get("cron")
    if cron is not None:
        text = cron.strip()
        if text.startswith("@"):
            if text not in CRON_MACROS:
                errors.append(
                    FieldError(
                        field="spec.cron", message=f"unsupported macro {text!r}; use one of {sorted(CRON_MACROS)}"
                    )
                )
        elif len(text.split()) != 5:
            errors.append(
                FieldError(
                    field="spec.cron",
                    message="use a 5-field cron expression (minute hour day-of-month month day-of-week)",
                )
            )
    unknown = unknown_placeholders(spec.get("promptTemplate", ""))
    if unknown:
        errors.append(
            FieldError(
                field="spec.promptTemplate",
                message=f"unknown placeholder(s) {', '.join('{{' + u + '}}' for u in unknown)}; "
                f"known: {', '.join('{{' + p + '}}' for p in PLACEHOLDERS)}",
            )
        )
    return errors
