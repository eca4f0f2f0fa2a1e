"""Backend selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.executors.docker_backend import DockerBackend
from activities.executors.factory import docker_available, get_backend
from activities.executors.local_backend import LocalBackend


@pytest.mark.docker
def test_auto_picks_docker_when_the_engine_answers(tmp_path: Path) -> None:
    assert docker_available()
    assert isinstance(get_backend(None, state_dir=tmp_path), DockerBackend)
    assert isinstance(get_backend("docker", state_dir=tmp_path), DockerBackend)


def test_auto_falls_back_to_local_without_an_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    assert not docker_available(timeout_s=1)
    backend = get_backend(None, state_dir=tmp_path / "state")
    assert isinstance(backend, LocalBackend)
    assert backend.state_dir == tmp_path / "state"


def test_named_backends(tmp_path: Path) -> None:
    assert isinstance(get_backend("local", state_dir=tmp_path, stop_grace_s=2.0), LocalBackend)
    assert isinstance(get_backend(" Local ", state_dir=tmp_path), LocalBackend)
    with pytest.raises(ValueError, match="unknown executor backend"):
        get_backend("podman")
