"""The local backend's side of :mod:`executor.zygote`: one pre-imported parent that forks executors.

Thread-safe (starts run in threads); one request at a time. A zygote that died or stopped answering is
replaced once per request; if that fails too the caller falls back to a plain ``python -m executor``.
"""

from __future__ import annotations

import json
import select
import subprocess
import threading
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

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
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
        return self._proc

    def spawn(self, cwd: Path, env: dict[str, str], log: Path, exit_file: Path) -> int:
        """Fork an executor; returns its pid (also its process group id)."""
        request = json.dumps({"cwd": str(cwd), "env": env, "log": str(log), "exit_file": str(exit_file)})
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


#: How long an answer may take; the first one waits for the zygote's imports.
ANSWER_TIMEOUT_S = 30.0


def _readline(stream: IO[str], timeout: float = ANSWER_TIMEOUT_S) -> str:
    # One request, one answer line: nothing is ever left in the stream's buffer, so select() on it is exact.
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no answer from the executor zygote in {timeout:.0f}s")
    return stream.readline()
