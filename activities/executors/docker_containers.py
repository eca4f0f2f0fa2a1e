"""What the Docker backend writes on its containers and reads back off them: labels, hardening, state, removal.

The labels are the backend's only record of what a container is (Docker labels never change after create), so
everything that lists, inspects or reaps containers reads them here; executors, relays and warm containers all
carry the same hardening.
"""

from __future__ import annotations

from typing import Any

from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.types import LogConfig

from activities.executors.base import CONTAINER_PORT, ExecutorInfo

LABEL_MANAGED = "wegent.managed"
LABEL_TASK = "wegent.task"
LABEL_WORKFLOW = "wegent.workflow"
LABEL_ROLE = "wegent.role"
LABEL_EXECUTOR = "wegent.executor"  # on a relay: the executor container it forwards to
LABEL_PORT = "wegent.port"  # the host port on 127.0.0.1
LABEL_NETWORK = "wegent.network"  # "on" | "off"
LABEL_SCOPE = "wegent.scope"  # the deployment (Temporal namespace) that owns the container
LABEL_WARM_OWNER = "wegent.warm-owner"  # on a warm container: the pool keeping it (instead of task and workflow)

EXECUTOR_USER = "10001"


def hardening() -> dict[str, Any]:
    """All capabilities dropped, no privilege gain, bounded logs: for every container the backend creates."""
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "log_config": LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
    }


def remove(container: Container) -> None:
    """Force-remove with its anonymous volumes; already gone, or being removed by someone else, is fine."""
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass
    except APIError as exc:
        # "removal of container ... is already in progress": someone else is removing it.
        if exc.status_code != 409:
            raise


def published_port(container: Container, container_port: int = CONTAINER_PORT) -> int | None:
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{container_port}/tcp")
    for binding in bindings or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def container_info(container: Container, binding: dict[str, Any] | None = None) -> ExecutorInfo:
    """``binding``: the task an adopted warm container now serves (its labels still say it was warm)."""
    state = container.attrs.get("State", {})
    labels = container.labels
    running = bool(state.get("Running"))
    task = str((binding or {}).get("task_id", labels.get(LABEL_TASK, "")))
    port_label = labels.get(LABEL_PORT, "")
    return ExecutorInfo(
        executor_id=container.name,
        running=running,
        exit_code=None if running else state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        task_id=int(task) if task.isdigit() else None,
        workflow_id=(binding or {}).get("workflow_id", labels.get(LABEL_WORKFLOW)),
        port=int(port_label) if port_label.isdigit() else published_port(container),
        status=state.get("Status", container.status),
        warm_owner=None if binding else labels.get(LABEL_WARM_OWNER),
    )


def label_port(container: Container, default: int) -> int:
    """The host port a container was started for: its label, else what Docker published, else ``default``."""
    value = container.labels.get(LABEL_PORT, "")
    return int(value) if value.isdigit() else (published_port(container) or default)


def api_message(exc: APIError) -> str:
    return str(exc.explanation or exc)
