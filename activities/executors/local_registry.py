"""The local backend's registry and process bookkeeping: one JSON record per executor under its state folder
(pid, process start time, task, workflow, port), read and written under a file lock, and what /proc says about
the process group a record names. Kept apart from starting and stopping (local_backend.py)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class LocalRegistryMixin:
    state_dir: Path
    _children: dict[str, subprocess.Popen[bytes]]

    # ------------------------------------------------------------------------------------ registry
    def _record_path(self, executor_id: str) -> Path:
        if "/" in executor_id or executor_id.startswith("."):
            raise ValueError(f"bad executor id {executor_id!r}")
        return self.state_dir / f"{executor_id}.json"

    def _log_path(self, executor_id: str) -> Path:
        return self.state_dir / f"{executor_id}.log"

    def _exit_path(self, executor_id: str, record: dict[str, Any] | None = None) -> Path:
        # A warm sandbox keeps the exit file it was forked with after a task adopts it (new id).
        if record is not None and record.get("exit_file"):
            return Path(record["exit_file"])
        return self.state_dir / f"{executor_id}.exit"

    def _read(self, executor_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._record_path(executor_id).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _write(self, executor_id: str, record: dict[str, Any]) -> None:
        path = self._record_path(executor_id)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)

    @contextlib.contextmanager
    def _locked(self, executor_id: str) -> Iterator[None]:
        """Serialize start/stop of one executor across threads and worker processes."""
        with open(self.state_dir / f".{executor_id}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------------------- process state
    def _alive(self, executor_id: str, record: dict[str, Any]) -> bool:
        child = self._children.get(executor_id)
        if child is not None and child.pid == record.get("pid"):
            return child.poll() is None
        pid = int(record.get("pid", 0))
        if pid <= 0:
            return False
        stat = proc_stat(pid)
        if stat is None or stat["state"] in ("Z", "X"):
            return False
        return record.get("start_time") is None or stat["start_time"] == record["start_time"]

    def _owns_group(self, record: dict[str, Any]) -> bool:
        """Whether ``record``'s process group still exists and is still the one we started.

        While any member lives the kernel does not hand the group id out again; once the group is empty a
        new process could get that number, so a present leader must have the recorded start time.
        """
        pgid = int(record.get("pgid", 0))
        if pgid <= 1:
            return False
        leader = proc_stat(pgid)
        if leader is not None:
            return record.get("start_time") is None or leader["start_time"] == record["start_time"]
        return self._group_alive(pgid)

    def _group_alive(self, pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # Zombies still count for killpg; only a group with a live member is alive. The leader (the executor) is
        # usually that member: reading its one stat file spares a scan of every process while it shuts down.
        leader = proc_stat(pgid)
        if leader is not None and leader["pgid"] == pgid and leader["state"] not in ("Z", "X"):
            return True
        return any(stat["state"] not in ("Z", "X") for stat in group_members(pgid))

    def _kill_group(self, pgid: int, sig: signal.Signals) -> None:
        if pgid <= 1 or pgid == os.getpgrp():  # never signal our own group (or init's)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def _reap(self, executor_id: str) -> None:
        child = self._children.get(executor_id)
        if child is not None:
            child.poll()

    def _exit_code(self, executor_id: str, record: dict[str, Any] | None = None) -> int | None:
        """What the zygote recorded for a forked executor (same convention as subprocess), if anything."""
        try:
            return int(self._exit_path(executor_id, record).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


def proc_stat(pid: int) -> dict[str, Any] | None:
    """State, process group and start time (clock ticks since boot) of a pid, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parens: split after its closing paren.
    fields = raw[raw.rindex(")") + 2 :].split()
    return {"state": fields[0], "pgid": int(fields[2]), "start_time": int(fields[19])}


def group_members(pgid: int) -> list[dict[str, Any]]:
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat["pgid"] == pgid:
                members.append(stat)
    return members


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
