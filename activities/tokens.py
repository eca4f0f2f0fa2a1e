"""Per-workflow executor tokens, derived rather than stored, so they never enter Temporal history.

They come from a key of their own, derived from the secret key under a label: an executor (and whatever runs
in its sandbox) holds values computed under that subkey only, never an HMAC under the key that signs JWTs.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from wegent.config import get_settings

_LABEL = b"wegent/executor-token-key/v1"


@lru_cache(maxsize=4)
def _token_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest()


def executor_token(workflow_id: str) -> str:
    key = _token_key(get_settings().jwt_secret)
    return hmac.new(key, f"executor:{workflow_id}".encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------- model gateway keys
# The key an executor presents to the model gateway names the task and the step it may call a model for, and is
# signed with the executor-token key: the sandbox can read it (it is in the run request) but can neither widen
# it to another Model or task nor forge one. It grants nothing once the task is over.
_GATEWAY_PREFIX = "wgx"


@dataclass(frozen=True)
class GatewayScope:
    task_id: int
    model_id: int
    turn: int
    step: int
    attempt: int

    def label(self) -> str:
        return f"{self.task_id}.{self.model_id}.{self.turn}.{self.step}.{self.attempt}"


def _gateway_mac(workflow_id: str, scope: GatewayScope) -> str:
    key = _token_key(get_settings().jwt_secret)
    return hmac.new(key, f"gateway:{workflow_id}:{scope.label()}".encode(), hashlib.sha256).hexdigest()


def gateway_key(workflow_id: str, scope: GatewayScope) -> str:
    return f"{_GATEWAY_PREFIX}.{scope.label()}.{_gateway_mac(workflow_id, scope)}"


def parse_gateway_key(key: str) -> GatewayScope | None:
    """The scope a key claims (not yet verified: see :func:`gateway_key_valid`), or None when malformed."""
    parts = key.split(".")
    if len(parts) != 7 or parts[0] != _GATEWAY_PREFIX or not all(p.isdigit() and len(p) < 19 for p in parts[1:6]):
        return None
    return GatewayScope(*(int(p) for p in parts[1:6]))


def gateway_key_valid(key: str, workflow_id: str, scope: GatewayScope) -> bool:
    return hmac.compare_digest(key.encode(), gateway_key(workflow_id, scope).encode())
