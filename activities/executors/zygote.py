"""The local backend's side of :mod:`executor.zygote`: one pre-imported parent that forks executors.

Thread-safe (starts run in threads); one request at a time. A zygote that died or stopped answering is
replaced once per request; if that fails too the caller falls back to a plain ``python -m executor``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO


class ZygoteUnavailable(RuntimeError):
    pass


class ZygoteClient:
    def __init__(self, python: str, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.python = python
        self.env = {**env, "PYTHONUNBUFFERED": "1"}  # children inherit the interpreter's buffering
        self.cwd = cwd
        self.log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the zygote now (it imports in the background) so the first executor does not wait for it."""
        with self._lock:
            self._ensure()

    @property
    def pid_path(self) -> Path:
        # One record per backend process: several workers of one host may share a state folder.
        return self.cwd / f"zygote-{os.getpid()}.pid"

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            if self._proc is None:
                for path in self.cwd.glob("zygote-*.pid"):
                    end_stale_zygote(path)
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [self.python, "-m", "executor.zygote"],
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    bufsize=1,
                    start_new_session=True,  # a Ctrl-C or group signal to the worker is not for the zygote
                    close_fds=True,
                )
            _write_pid(self.pid_path, self._proc.pid)
        return self._proc

    def spawn(self, cwd: Path, env: dict[str, str], log: Path, exit_file: Path, uid: int | None = None) -> int:
        """Fork an executor (as ``uid``, when given); returns its pid (also its process group id)."""
        request = json.dumps({"cwd": str(cwd), "env": env, "log": str(log), "exit_file": str(exit_file), "uid": uid})
        with self._lock:
            for _ in range(2):
                proc = self._ensure()
                stdin, stdout = proc.stdin, proc.stdout
                assert stdin is not None and stdout is not None
                try:
                    stdin.write(request + "\n")
                    stdin.flush()
                    line = _readline(stdout)
                except OSError:
                    line = ""
                if not line:  # gone: replace it once
                    self._stop_locked()
                    continue
                answer = json.loads(line)
                if "pid" in answer:
                    return int(answer["pid"])
                raise ZygoteUnavailable(str(answer.get("error", "no pid in the answer")))
        raise ZygoteUnavailable(f"the executor zygote exits at start; see {self.log_path}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            proc.wait(timeout=5)  # stdin closed: it exits on its own
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.pid_path.unlink(missing_ok=True)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc), which tells a recycled pid apart."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[19]


def _write_pid(path: Path, pid: int) -> None:
    tmp = path.with_suffix(".tmp")
    parent = os.getpid()
    record = {"pid": pid, "start_time": _start_time(pid), "parent": parent, "parent_start": _start_time(parent)}
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def end_stale_zygote(path: Path) -> bool:
    """End a zygote whose backend process is gone (an earlier, uncleanly stopped worker of this folder).

    A zygote whose backend still runs is left alone. Only the recorded process is touched, and only while it
    is still that process (same start time) running the zygote module: a recycled pid is never signalled.
    """
    try:
        record = json.loads(path.read_text())
        pid, parent = int(record["pid"]), int(record["parent"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if parent != os.getpid() and _start_time(parent) == record.get("parent_start"):
        return False  # another live backend's zygote
    path.unlink(missing_ok=True)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if _start_time(pid) != record.get("start_time") or b"executor.zygote" not in cmdline:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if _start_time(pid) is None:
            return True
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    return True


#: How long an answer may take; the first one waits for the zygote's imports.
ANSWER_TIMEOUT_S = 30.0


def _readline(stream: IO[str], timeout: float = ANSWER_TIMEOUT_S) -> str:
    # One request, one answer line: nothing is ever left in the stream's buffer, so select() on it is exact.
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no answer from the executor zygote in {timeout:.0f}s")
    return stream.readline()
