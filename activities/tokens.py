"""Per-workflow executor tokens, derived rather than stored, so they never enter Temporal history.

They come from a key of their own, derived from the secret key under a label: an executor (and whatever runs
in its sandbox) holds values computed under that subkey only, never an HMAC under the key that signs JWTs.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from wegent.config import get_settings

_LABEL = b"wegent/executor-token-key/v1"


@lru_cache(maxsize=4)
def _token_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest()


def executor_token(workflow_id: str) -> str:
    key = _token_key(get_settings().jwt_secret)
    return hmac.new(key, f"executor:{workflow_id}".encode(), hashlib.sha256).hexdigest()
