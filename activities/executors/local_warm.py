"""The local backend's warm sandboxes: executor processes forked before any task, adopted by one task later.

A warm executor is an ordinary record of the local backend's registry (``<id>.json``) marked with the pool
that keeps it (``warm_owner``) and no task. It is forked like any executor but holds a one-time pool key
instead of a task token. Adopting it for a task writes its record again under the task's executor id
(:func:`executor_name`, so a retried start finds it like any other) and moves its log beside it; the exit file
the zygote was told about stays where it was, and the record says where.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING, Any

from activities.executors.base import ExecutorHandle, ExecutorInfo, ExecutorStartError, WarmSpec, executor_name

if TYPE_CHECKING:
    from activities.executors.local_backend import LocalBackend


class LocalWarmMixin:
    supports_warm = True

    async def start_warm(self: LocalBackend, spec: WarmSpec) -> ExecutorHandle:  # type: ignore[misc]
        return await asyncio.to_thread(_start_warm, self, spec)

    async def adopt_warm(  # type: ignore[misc]
        self: LocalBackend, warm_id: str, port: int, task_id: int, workflow_id: str, sandbox: str = ""
    ) -> ExecutorHandle:
        # The port is in the executor's record, read under its lock anyway.
        return await asyncio.to_thread(_adopt, self, warm_id, task_id, workflow_id, sandbox)

    async def list_warm(self: LocalBackend) -> list[ExecutorInfo]:  # type: ignore[misc]
        def run() -> list[ExecutorInfo]:
            infos = []
            for path in sorted(self.state_dir.glob("*.json")):
                record = self._read(path.stem)
                if record is not None and record.get("scope", "") == self.scope and record.get("warm_owner"):
                    infos.append(self._info(path.stem, record))
            return infos

        return await asyncio.to_thread(run)


def _start_warm(backend: LocalBackend, spec: WarmSpec) -> ExecutorHandle:
    from activities.executors.local_registry import port_free, proc_stat

    executor_id = spec.warm_id
    with backend._locked(executor_id):
        if backend._read(executor_id) is not None:
            raise ExecutorStartError(f"warm executor {executor_id} exists already")
        if not port_free(backend.host, spec.port):
            raise ExecutorStartError(f"port {backend.host}:{spec.port} is already in use")
        workdir = backend._workdir(executor_id, spec.port, None)
        env = backend._base_env()
        env.update(
            {
                "EXECUTOR_POOL_KEY": spec.pool_key,
                "EXECUTOR_PORT": str(spec.port),
                "EXECUTOR_HOST": backend.host,
                "EXECUTOR_WORKDIR": str(workdir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        log_path, exit_path = backend._log_path(executor_id), backend._exit_path(executor_id)
        exit_path.unlink(missing_ok=True)
        uid = backend.agent.uid_for(spec.port) if backend.agent is not None else None
        if uid is not None:
            env["HOME"] = str(workdir)
        pid = backend._spawn(executor_id, workdir, env, log_path, exit_path, uid)
        stat = proc_stat(pid)
        record: dict[str, Any] = {
            "executor_id": executor_id,
            "pid": pid,
            "pgid": pid,
            "start_time": stat["start_time"] if stat else None,
            "task_id": None,
            "workflow_id": None,
            "warm_owner": spec.owner,
            "scope": backend.scope,
            "port": spec.port,
            "host": backend.host,
            "workdir": str(workdir),
            "uid": uid,
            "exit_file": str(exit_path),
            "started_at": time.time(),
        }
        backend._write(executor_id, record)
    return backend._handle(executor_id, spec.port)


def _adopt(backend: LocalBackend, warm_id: str, task_id: int, workflow_id: str, sandbox: str) -> ExecutorHandle:
    new_id = executor_name(task_id, workflow_id, backend.scope, sandbox)
    with backend._locked(warm_id):
        record = backend._read(warm_id)
        if record is None or not record.get("warm_owner") or record.get("workflow_id"):
            raise ExecutorStartError(f"{warm_id} is not a waiting warm executor")
        record.update(executor_id=new_id, task_id=task_id, workflow_id=workflow_id, warm_owner=None, warm_id=warm_id)
        with backend._locked(new_id):
            if backend._read(new_id) is not None:
                raise ExecutorStartError(f"workflow {workflow_id} has an executor already ({new_id})")
            backend._write(new_id, record)
        # The process keeps its open log file; only its name changes, so `logs(new_id)` finds it.
        if backend._log_path(warm_id).exists():
            os.replace(backend._log_path(warm_id), backend._log_path(new_id))
        child = backend._children.pop(warm_id, None)
        if child is not None:
            backend._children[new_id] = child
        backend._record_path(warm_id).unlink(missing_ok=True)
    (backend.state_dir / f".{warm_id}.lock").unlink(missing_ok=True)
    return backend._handle(new_id, int(record["port"]))
