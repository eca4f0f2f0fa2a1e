"""Per-workflow executor tokens, derived rather than stored, so they never enter Temporal history."""

from __future__ import annotations

import hashlib
import hmac

from wegent.config import get_settings


def executor_token(workflow_id: str) -> str:
    key = get_settings().jwt_secret.encode()
    return hmac.new(key, f"executor:{workflow_id}".encode(), hashlib.sha256).hexdigest()
