"""Local executors across a `wegent up` restart: stopped and remembered on Ctrl-C, brought back on the next start.

Local executors are child processes of `wegent up`; containers outlive the worker by design and need none of this.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from wegent.config import Settings
from wegent.logging import get_logger

log = get_logger("embedded")
SUSPENDED_EXECUTORS = "suspended_executors.json"


async def suspend_executors(backend: Any, state_dir: Path) -> None:
    """Stop this host's local executors, remembering them so the next start can bring them back.

    Local executors are child processes: leaving them running after Ctrl-C would orphan them. A workflow keeps
    its executor's address across steps, so the next start re-creates each one whose workflow still runs, on
    the same port, before the worker resumes (its steps then start fresh runs on it).
    """
    if backend.name != "local":
        return  # containers outlive the worker by design; the workflows stop them
    infos = await backend.list_managed()
    records = [
        {"executor_id": i.executor_id, "task_id": i.task_id, "workflow_id": i.workflow_id, "port": i.port}
        for i in infos
        if i.task_id is not None and i.workflow_id and i.port
    ]
    path = state_dir / SUSPENDED_EXECUTORS
    if records:
        path.write_text(json.dumps(records, indent=1))
    await asyncio.gather(*(backend.stop(i.executor_id) for i in infos), return_exceptions=True)
    if infos:
        log.info("embedded.executors_suspended", count=len(infos))


async def revive_executors(backend: Any, client: Any, settings: Settings) -> int:
    """Re-create the executors that :func:`suspend_executors` stopped, for workflows that still run."""
    from temporalio.client import WorkflowExecutionStatus

    from activities.executors.base import ExecutorSpec
    from activities.tokens import executor_token

    path = settings.state_dir / SUSPENDED_EXECUTORS
    if backend.name != "local" or not path.exists():
        return 0
    try:
        records = json.loads(path.read_text())
    except ValueError:
        records = []
    revived = 0
    for record in records:
        workflow_id, task_id, port = record["workflow_id"], int(record["task_id"]), int(record["port"])
        bound = log.bind(workflow_id=workflow_id, task_id=task_id, port=port)
        try:
            description = await client.get_workflow_handle(workflow_id).describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                continue
            spec = ExecutorSpec(
                task_id=task_id,
                workflow_id=workflow_id,
                port=port,
                token=executor_token(workflow_id),
                image=settings.executor_image,
            )
            handle = await backend.start(spec)
            if handle.executor_id != record["executor_id"]:  # not the one the workflow knows: leave it to the workflow
                await backend.stop(handle.executor_id)
                continue
            await backend.wait_healthy(handle, 60.0)
            revived += 1
        except Exception as exc:  # the workflow's own retries and failure handling take over from here
            bound.warning("embedded.executor_not_revived", error=str(exc))
    path.unlink(missing_ok=True)
    if revived:
        log.info("embedded.executors_revived", count=revived)
    return revived
