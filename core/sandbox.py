"""The sandbox policy (wegent/sandbox.py) applied to resource writes: a Shell's image must be allowed."""

from __future__ import annotations

from typing import Any

from wegent.config import get_settings
from wegent.resources import FieldError
from wegent.sandbox import image_refusal


def spec_errors(kind: str, spec: dict[str, Any]) -> list[FieldError]:
    if kind != "Shell":
        return []
    reason = image_refusal(get_settings(), spec.get("image"))
    return [FieldError(field="spec.image", message=reason)] if reason else []
