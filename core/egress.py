"""The egress policy (wegent/egress.py) applied to resource writes: a clear 422 on the Model's baseUrl."""

from __future__ import annotations

from typing import Any

from core.db.models import User
from wegent.config import get_settings
from wegent.egress import refusal
from wegent.resources import FieldError


def spec_errors(kind: str, spec: dict[str, Any], user: User, public: bool) -> list[FieldError]:
    """Admins' and public Models are the operators' choice; ordinary users' must point at public endpoints."""
    if kind != "Model" or public or user.is_admin:
        return []
    reason = refusal(str(spec.get("baseUrl", "")), get_settings().egress_allow)
    return [FieldError(field="spec.baseUrl", message=reason)] if reason else []
