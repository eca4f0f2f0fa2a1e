"""Settings read only their documented names, and every path they hand out is absolute."""

from __future__ import annotations

from pathlib import Path

import pytest

from wegent.config import Settings


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WEGENT_* variable, cwd a fresh folder (the conftest sets several for the rest of the suite)."""
    import os

    for name in list(os.environ):
        if name.startswith("WEGENT_") or name in ("MAX_CONCURRENT_TASKS", "EXECUTOR_PORT_RANGE_MIN"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_default_state_dir_is_absolute_under_the_start_directory(bare_env: Path) -> None:
    settings = Settings()
    assert settings.state_dir.is_absolute()
    assert settings.state_dir == bare_env / ".wegent"
    assert settings.resolved_database_url == f"sqlite:///{bare_env / '.wegent' / 'wegent.db'}"


def test_relative_state_dir_given_by_the_user_is_resolved_once(bare_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WEGENT_STATE_DIR", "data/../state")
    settings = Settings()
    monkeypatch.chdir("/")
    assert settings.state_dir.is_absolute()
    assert settings.state_dir.parent == bare_env / "data" / ".."
    assert (settings.state_dir / "executors").is_absolute()


def test_stray_unprefixed_variables_of_other_programs_are_ignored(bare_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in {
        "SECRET_KEY": "someone-elses-signing-key",
        "DATABASE_URL": "mysql+pymysql://other@db/other",
        "REDIS_URL": "redis://other:6379/3",
        "ENCRYPTION_KEYS": "x:AAAA",
        "STATE_DIR": "/somewhere/else",
        "TEMPORAL_ADDRESS": "other:7233",
        "ADMIN_PASSWORD": "not-ours",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.secret_key is None
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.encryption_keys is None
    assert settings.admin_password is None
    assert settings.temporal_address == "127.0.0.1:7233"
    assert settings.state_dir == bare_env / ".wegent"


def test_documented_names_are_read(bare_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WEGENT_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("WEGENT_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MAX_CONCURRENT_TASKS", "7")  # documented without the prefix
    settings = Settings()
    assert settings.secret_key == "k" * 40
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.max_concurrent_tasks == 7
