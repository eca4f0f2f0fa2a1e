"""Executors as plain subprocesses on this host: ``<this interpreter> -m executor`` on 127.0.0.1.

For development and machines without Docker. There is no container: ``cpu``/``memory``/``network``/``pids``
of the spec are not enforced. A root worker runs each executor as an unprivileged uid of its own, in a directory
only that uid may open, with the state folder closed to it (:mod:`activities.executors.agent_user`); any other
worker runs them as its own user, with its filesystem access. What it always keeps:

- each executor in its own session and process group (``start_new_session``), stopped by SIGTERM to the
  group and SIGKILL after a grace period. A descendant that moves itself into another session escapes that.
- a minimal environment: PATH/HOME/locale/TMPDIR plus ``spec.env`` and ``EXECUTOR_*`` -- never the
  worker's own secrets (database URL, keys).
- a registry under ``state_dir``: one ``<executor_id>.json`` per executor (pid, process start time,
  task_id, workflow_id, port), so ``list_managed``/``stop``/``inspect`` work across worker restarts. The
  process start time guards against a recycled pid. Output goes to ``<executor_id>.log`` beside it.

Executors are forked from a zygote (:mod:`executor.zygote`) that has already imported the executor, which
takes its imports (about 0.35 s) off every task's path to the first token; ``<executor_id>.exit`` receives
the exit code. Without a working zygote (or with ``zygote=False``) they are spawned as
``<this interpreter> -m executor``; both run the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from activities.executors.agent_user import AgentUser, for_agents
from activities.executors.base import (
    BackendName,
    ExecutorBackend,
    ExecutorHandle,
    ExecutorInfo,
    ExecutorSpec,
    ExecutorStartError,
    executor_name,
)
from activities.executors.local_registry import LocalRegistryMixin, port_free, proc_stat
from activities.executors.local_warm import LocalWarmMixin
from activities.executors.zygote import ZygoteClient, ZygoteUnavailable
from executor.runtimes.base import RunFailed
from executor.runtimes.claude_cli import CLAUDE_BIN_ENV, find_claude
from wegent.http import tls_context
from wegent.logging import get_logger

log = get_logger("executors.local")

_PASSTHROUGH_ENV = (
    *("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"),
    *("WEGENT_CLAUDE_BIN", "WEGENT_CLAUDE_CONFIG_DIR"),  # where the ClaudeCode runtime finds the CLI, keeps sessions
)


_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LocalBackend(LocalWarmMixin, LocalRegistryMixin, ExecutorBackend):
    """Executors as subprocess groups of this host, tracked in JSON files under ``state_dir``."""

    name: ClassVar[BackendName] = "local"

    def __init__(
        self,
        state_dir: Path | str,
        *,
        python: str | None = None,
        stop_grace_s: float = 5.0,
        host: str = "127.0.0.1",
        scope: str = "",
        zygote: bool = True,
        agent: AgentUser | None = None,
    ) -> None:
        self.scope = scope
        self.agent = agent
        # Absolute: executors run in their own working directories, where a relative path means nothing.
        self.state_dir = Path(state_dir).absolute()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.python = agent.python if agent is not None else python or sys.executable
        self.stop_grace_s = stop_grace_s
        self.host = host
        # Our own children, so we can reap them (and read their exit code) instead of leaving zombies.
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._zygote = (
            ZygoteClient(self.python, self._base_env(), self.state_dir, self.state_dir / "zygote.log")
            if zygote
            else None
        )

    async def prepare(self) -> None:
        if self.agent is not None:
            self.agent.check_python()
        if self._zygote is not None:
            await asyncio.to_thread(self._zygote.start)

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()

    # --------------------------------------------------------------------------------------- start
    async def start(self, spec: ExecutorSpec) -> ExecutorHandle:
        return await asyncio.to_thread(self._start, spec)

    def _start(self, spec: ExecutorSpec) -> ExecutorHandle:
        executor_id = executor_name(spec.task_id, spec.workflow_id, self.scope, spec.sandbox)
        with self._locked(executor_id):
            record = self._read(executor_id)
            if record is not None:
                if record.get("workflow_id") != spec.workflow_id:
                    raise ExecutorStartError(
                        f"{executor_id} belongs to workflow {record.get('workflow_id')!r}, not {spec.workflow_id!r}"
                    )
                if self._alive(executor_id, record):
                    return self._handle(executor_id, int(record["port"]))
                if self._owns_group(record):
                    self._kill_group(int(record["pgid"]), signal.SIGKILL)
                self._forget(executor_id)

            if not port_free(self.host, spec.port):
                raise ExecutorStartError(f"port {self.host}:{spec.port} is already in use")

            workdir = self._workdir(executor_id, spec.port, spec.workdir_volume)
            env = self._env(spec, workdir)
            log_path = self._log_path(executor_id)
            exit_path = self._exit_path(executor_id)
            exit_path.unlink(missing_ok=True)
            uid = self.agent.uid_for(spec.port) if self.agent is not None else None
            pid = self._spawn(executor_id, workdir, env, log_path, exit_path, uid)
            stat = proc_stat(pid)
            self._write(
                executor_id,
                {
                    "executor_id": executor_id,
                    "pid": pid,
                    "pgid": pid,  # a new session either way: the executor leads its own group
                    "start_time": stat["start_time"] if stat else None,
                    "task_id": spec.task_id,
                    "workflow_id": spec.workflow_id,
                    "scope": self.scope,
                    "port": spec.port,
                    "host": self.host,
                    "workdir": str(workdir),
                    "uid": uid,
                    "started_at": time.time(),
                },
            )
            return self._handle(executor_id, spec.port)

    def _workdir(self, executor_id: str, port: int, volume: str | None) -> Path:
        """The executor's working directory: the spec's, else a fresh one (its uid's only, when confined)."""
        if self.agent is not None:
            self.agent.check_python()
        if volume:
            workdir = Path(volume)
            if not workdir.is_absolute():
                raise ExecutorStartError(f"local workdir must be an absolute path, not {workdir}")
            workdir.mkdir(parents=True, exist_ok=True)
            if self.agent is not None:
                uid = self.agent.uid_for(port)
                os.chown(workdir, uid, uid)
            return workdir
        if self.agent is not None:
            return self.agent.workdir(executor_id, port)
        workdir = self.state_dir / "work" / executor_id
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    def _spawn(
        self, executor_id: str, workdir: Path, env: dict[str, str], log_path: Path, exit_path: Path, uid: int | None
    ) -> int:
        if self._zygote is not None:
            try:
                return self._zygote.spawn(workdir, env, log_path, exit_path, uid)
            except ZygoteUnavailable as exc:
                log.warning("executor_zygote_unavailable", error=str(exc), fallback="python -m executor")
        with open(log_path, "ab") as log_file:
            try:
                child = subprocess.Popen(
                    [self.python, "-m", "executor"],
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    # Confined: its own uid and group, no supplementary groups, files private by default.
                    user=uid,
                    group=uid,
                    extra_groups=[] if uid is not None else None,
                    umask=0o077 if uid is not None else -1,
                )
            except OSError as exc:
                raise ExecutorStartError(f"spawning {self.python} -m executor failed: {exc}") from exc
        self._children[executor_id] = child
        return child.pid

    def _handle(self, executor_id: str, port: int) -> ExecutorHandle:
        return ExecutorHandle(backend="local", executor_id=executor_id, host=self.host, port=port)

    def _base_env(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in _PASSTHROUGH_ENV if key in os.environ}
        if self.agent is not None:
            # The worker's home, user and temp folder are not the agent's; its HOME is its working directory.
            for key in ("HOME", "USER", "LOGNAME", "TMPDIR", "WEGENT_CLAUDE_CONFIG_DIR"):
                env.pop(key, None)
            env["PYTHONPATH"] = str(self.agent.sources)
            # The worker's PATH may lead through folders the agent cannot enter; its own `python` comes first.
            env["PATH"] = f"{Path(self.agent.python).parent}:{_SYSTEM_PATH}"
            if CLAUDE_BIN_ENV not in env:  # not beside the agents' interpreter: name the worker's own CLI
                with contextlib.suppress(RunFailed, OSError):
                    env[CLAUDE_BIN_ENV] = str(for_agents(Path(find_claude())))
            return env
        # The interpreter must find the `executor` package even when this checkout is not installed.
        source_root = executor_source_root()
        if source_root is not None:
            env["PYTHONPATH"] = str(source_root)
        return env

    def _env(self, spec: ExecutorSpec, workdir: Path) -> dict[str, str]:
        env = self._base_env()
        env.update(spec.env)
        env.update(
            {
                "EXECUTOR_TOKEN": spec.token,
                "EXECUTOR_PORT": str(spec.port),
                "EXECUTOR_HOST": self.host,
                "EXECUTOR_WORKDIR": str(workdir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.agent is not None:
            env["HOME"] = str(workdir)
        return env

    # ---------------------------------------------------------------------------------------- stop
    async def stop(self, executor_id: str) -> None:
        record = await asyncio.to_thread(self._read, executor_id)
        if record is None:
            return
        pgid = int(record.get("pgid", 0))
        if self._owns_group(record):
            self._kill_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace_s
            while time.monotonic() < deadline:
                self._reap(executor_id)
                if not self._group_alive(pgid):
                    break
                await asyncio.sleep(0.05)
            else:
                self._kill_group(pgid, signal.SIGKILL)
                for _ in range(100):  # SIGKILL cannot be ignored; this is only the kernel's latency
                    self._reap(executor_id)
                    if not self._group_alive(pgid):
                        break
                    await asyncio.sleep(0.02)
        self._reap(executor_id)
        await asyncio.to_thread(self._forget, executor_id)

    async def release_idle(self) -> list[str]:
        released = []
        for info in await self.list_managed():
            if info.running and info.port and await self._busy(int(info.port)):
                continue
            await self.stop(info.executor_id)
            released.append(info.executor_id)
        if released:
            log.info("executors.released_idle", count=len(released))
        return released

    async def _busy(self, port: int) -> bool:
        """Whether the executor on ``port`` has a run in progress; one that does not answer counts as busy."""
        import httpx

        try:
            async with httpx.AsyncClient(timeout=3.0, verify=tls_context()) as client:
                health = (await client.get(f"http://{self.host}:{port}/health")).json()
            return int(health.get("runs", 1)) > 0
        except (httpx.HTTPError, ValueError, TypeError, AttributeError):
            return True

    def _forget(self, executor_id: str) -> None:
        self._children.pop(executor_id, None)
        record = self._read(executor_id)
        if self.agent is not None and record is not None:
            self.agent.remove_workdir(record.get("workdir"))
        for path in (
            self._exit_path(executor_id, self._read(executor_id)),
            self._record_path(executor_id),
            self._exit_path(executor_id),
            self.state_dir / f".{executor_id}.lock",
        ):
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------------------------------- inspect
    async def inspect(self, executor_id: str) -> ExecutorInfo | None:
        record = await asyncio.to_thread(self._read, executor_id)
        if record is None:
            return None
        info = self._info(executor_id, record)
        # A forked executor that just died: its zygote writes the exit code a moment after the kernel says so.
        for _ in range(20):
            if info.running or info.exit_code is not None or executor_id in self._children:
                break
            if self._zygote is None or not self._zygote.alive():
                break
            await asyncio.sleep(0.01)
            info = self._info(executor_id, record)
        return info

    async def list_managed(self) -> list[ExecutorInfo]:
        def run() -> list[ExecutorInfo]:
            infos = []
            for path in sorted(self.state_dir.glob("*.json")):
                record = self._read(path.stem)
                if record is not None and record.get("scope", "") == self.scope and not record.get("warm_owner"):
                    infos.append(self._info(path.stem, record))
            return infos

        return await asyncio.to_thread(run)

    def _info(self, executor_id: str, record: dict[str, Any]) -> ExecutorInfo:
        running = self._alive(executor_id, record)
        exit_code: int | None = None
        child = self._children.get(executor_id)
        if not running and child is not None and child.pid == record.get("pid"):
            exit_code = child.returncode  # negative: killed by that signal (subprocess convention)
        elif not running:
            exit_code = self._exit_code(executor_id, record)
        return ExecutorInfo(
            executor_id=executor_id,
            running=running,
            exit_code=exit_code,
            oom_killed=False,
            task_id=record.get("task_id"),
            workflow_id=record.get("workflow_id"),
            port=record.get("port"),
            status="running" if running else "exited",
            warm_owner=record.get("warm_owner"),
        )

    async def logs(self, executor_id: str, tail: int = 50) -> str:
        def run() -> str:
            try:
                with open(self._log_path(executor_id), "rb") as fh:
                    fh.seek(0, os.SEEK_END)
                    fh.seek(max(0, fh.tell() - 64 * 1024))
                    lines = fh.read().decode("utf-8", "replace").splitlines()
            except FileNotFoundError:
                return ""
            return "\n".join(lines[-tail:])

        return await asyncio.to_thread(run)


def executor_source_root() -> Path | None:
    spec = importlib.util.find_spec("executor")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve().parent
