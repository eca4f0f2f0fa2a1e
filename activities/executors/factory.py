"""Pick an executor backend by name: "docker", "local", or None for docker when an engine answers."""

from __future__ import annotations

import inspect
from typing import Any

from activities.executors.base import ExecutorBackend
from activities.executors.docker_backend import DockerBackend
from activities.executors.local_backend import LocalBackend
from wegent.logging import get_logger

log = get_logger("executors")

_BACKENDS: dict[str, type[ExecutorBackend]] = {"docker": DockerBackend, "local": LocalBackend}


def docker_available(timeout_s: float = 3.0) -> bool:
    """True when a Docker engine answers a ping within ``timeout_s``."""
    import docker

    try:
        client = docker.from_env(timeout=max(1, int(timeout_s)))
    except Exception:  # no socket, bad DOCKER_HOST, missing TLS files...
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def choose_backend(name: str | None = None) -> str:
    """The backend a name means: None (or "" / "auto") is docker when an engine answers, else local."""
    choice = (name or "auto").strip().lower()
    if choice == "auto":
        choice = "docker" if docker_available() else "local"
        if choice == "local":  # never silently: agents now run unsandboxed, next to the platform's files
            log.warning(
                "executor.backend_fallback",
                backend="local",
                reason="no Docker engine answers",
                hint="agents run unsandboxed; set WEGENT_EXECUTOR_BACKEND to choose explicitly",
            )
    return choice


def get_backend(name: str | None = None, **kw: Any) -> ExecutorBackend:
    """Build the named backend (see :func:`choose_backend`); keyword arguments it does not take are dropped.

    The local backend needs ``state_dir`` (where it keeps one JSON record per executor).
    """
    choice = choose_backend(name)
    try:
        cls = _BACKENDS[choice]
    except KeyError:
        raise ValueError(f"unknown executor backend {name!r}; use docker, local or leave it unset") from None
    accepted = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        kw = {key: value for key, value in kw.items() if key in accepted}
    return cls(**kw)
