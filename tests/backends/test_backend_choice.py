"""Issue 16, item 3 (part): the local backend is never chosen silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.executors.factory import get_backend
from activities.executors.local_backend import LocalBackend


def test_falling_back_to_the_local_backend_is_said_out_loud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    assert isinstance(get_backend(None, state_dir=tmp_path / "state"), LocalBackend)
    out, err = capfd.readouterr()
    assert "executor.backend_fallback" in out + err
    assert "unsandboxed" in out + err
