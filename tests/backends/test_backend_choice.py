"""Issue 16, item 3 (part): the local backend is never chosen silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from activities.executors.factory import get_backend
from activities.executors.local_backend import LocalBackend


def test_falling_back_to_the_local_backend_is_said_out_loud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    with capture_logs() as entries:
        assert isinstance(get_backend(None, state_dir=tmp_path / "state"), LocalBackend)
    warnings = [e for e in entries if e["event"] == "executor.backend_fallback"]
    assert warnings and warnings[0]["log_level"] == "warning"
    assert "unsandboxed" in warnings[0]["hint"]
