"""``python -m executor.zygote``: a parent that has imported the executor once and forks one per request.

Starting ``python -m executor`` costs about 0.35 s of imports (FastAPI, pydantic, httpx, the runtimes)
before it can answer, and the local backend pays that on the path to a task's first token. The zygote pays it
once: the local backend keeps one running and asks it for each executor. A forked child is a fresh process
with its own session and process group, working directory, environment (replaced, not inherited) and log
file, running exactly what ``python -m executor`` runs.

Protocol: one JSON object per line on stdin, one answer per line on stdout.

- request ``{"cwd": str, "env": {str: str}, "log": str, "exit_file": str, "uid": int | null}``: with a uid
  the child opens its log, then drops to that uid (group the same, no supplementary groups, umask 077)
  before it does anything else
- answer ``{"pid": int}`` once the child leads its own process group, or ``{"error": str}``

The zygote reaps its children. Before reaping one it writes the child's exit code (negative: the signal that
killed it, as ``subprocess`` reports it) to that request's ``exit_file``. It exits when stdin closes (the
backend that started it is gone), on SIGTERM, and when that backend dies; the children it started keep
running (they lead their own sessions, and the backend stops them by process group).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, TextIO

_exit_files: dict[int, str] = {}


def preload() -> None:
    """Import what an executor imports before and while it starts serving."""
    import uvicorn.lifespan.on  # noqa: F401
    import uvicorn.loops.auto  # noqa: F401
    import uvicorn.protocols.http.auto  # noqa: F401
    import uvicorn.protocols.websockets.auto  # noqa: F401

    import executor.__main__  # noqa: F401
    from executor.app import create_app
    from executor.runtimes.sdk_preload import preload_model_sdks

    # An app built once loads what FastAPI imports lazily while it builds routes (pydantic.v1 among them):
    # about a tenth of every forked executor's CPU otherwise.
    with tempfile.TemporaryDirectory() as workdir:
        create_app(None, Path(workdir), "zygote-preload")
    preload_model_sdks()


def _reap(_signum: int = 0, _frame: Any = None) -> None:
    """Record and reap every child that has exited."""
    while True:
        try:
            # WNOWAIT: the exit code is on disk before the pid disappears, so a backend that sees the
            # process gone can always read how it ended.
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        exit_file = _exit_files.pop(info.si_pid, None)
        if exit_file:
            try:
                tmp = f"{exit_file}.tmp"
                with open(tmp, "w") as fh:
                    fh.write(str(code))
                os.replace(tmp, exit_file)
            except OSError:
                pass
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            pass


def _child(request: dict[str, Any], ready_w: int) -> int:
    """In the forked child: become the executor the request describes. Returns its exit code."""
    os.setsid()
    os.close(ready_w)  # tells the zygote we lead our own group now
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    uid = request.get("uid")
    if uid is not None:  # a root worker's confined agent (activities/executors/agent_user.py)
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))
        os.umask(0o077)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    from executor.__main__ import main

    return main([])


def spawn(request: dict[str, Any]) -> dict[str, Any]:
    for key in ("cwd", "env", "log", "exit_file"):
        if key not in request:
            return {"error": f"request without {key!r}"}
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    # Blocked while forking so the handler cannot reap the new child before its exit file is registered.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                os.close(ready_r)
                code = _child(request, ready_w)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                for stream in (sys.stdout, sys.stderr):  # os._exit skips the interpreter's flush
                    try:
                        stream.flush()
                    except Exception:  # noqa: BLE001, S110 - nothing left to report to
                        pass
                os._exit(code)
        _exit_files[pid] = request["exit_file"]
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    os.close(ready_w)
    os.read(ready_r, 1)  # EOF once the child has called setsid (or died trying)
    os.close(ready_r)
    return {"pid": pid}


def _stop(_signum: int = 0, _frame: Any = None) -> None:
    """SIGTERM: leave at once. The executors it forked lead their own sessions; their backend stops them."""
    raise SystemExit(0)


def _die_with_parent() -> None:
    """Ask the kernel for a SIGTERM when the backend that started us dies, even by SIGKILL (Linux only).

    Closing stdin already ends the zygote when its parent exits; this also covers a parent that is killed
    while the pipe is still held open somewhere.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before the request took effect
        raise SystemExit(0)


def serve(stdin: TextIO, stdout: TextIO) -> None:
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the worker's terminal is the worker's to handle
    signal.signal(signal.SIGTERM, _stop)
    for line in stdin:
        try:
            answer = spawn(json.loads(line))
        except Exception as exc:  # one bad request must not take the zygote down
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


def main() -> int:
    _die_with_parent()
    preload()
    # What the zygote loaded is shared with every child until written to: a child's collector walking those
    # objects would copy their pages (and spend the CPU walking them). Frozen, the collector leaves them alone.
    gc.collect()
    gc.freeze()
    serve(sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
