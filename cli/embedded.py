"""`wegent up`: the whole product in one process — API, Socket.IO, worker — plus two child processes.

The children are the Temporal dev server (with its web console) and llama.cpp's llama-server serving a small
local model behind the public Model `local`. The embedded default uses SQLite in the state folder, an
in-process event bus and local-process executors, but runs exactly the same workflows, activities and executor
code as a production deployment; only the backends differ, by configuration.

Start-up: both children start at once; then the Temporal client, the API (its start-up migrates the database
and creates the first admin), local executors that a previous Ctrl-C suspended, the worker, the demo
resources. Ctrl-C (SIGINT) or SIGTERM stops it all in reverse: the worker first (running steps get a grace
period, then are retried after the next start), then the local executors (remembered so the next start brings
back the ones whose workflow is still running), the API, and the children last. State stays in the state
folder, so a restart keeps resources, tasks and running workflows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from cli.suspended_executors import revive_executors, suspend_executors
from wegent.config import Settings, get_settings
from wegent.logging import configure_logging, get_logger
from worker.demo import DEFAULT_DEMO
from worker.local_model import LocalModelEndpoint, LocalModelServer
from worker.temporal_dev import TemporalDevServer, port_open

log = get_logger("embedded")


@dataclass
class UpOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    ui_port: int = 8233
    demo: Path | None = DEFAULT_DEMO
    local_model: bool | None = None  # None: WEGENT_LOCAL_MODEL (default on)
    model_port: int | None = None  # None: WEGENT_LOCAL_MODEL_PORT


def _defaults(options: UpOptions) -> None:
    """Embedded choices, unless the user configured otherwise (in the environment or in `.env`)."""
    configured = Settings().model_fields_set
    defaults = {
        "executor_backend": ("WEGENT_EXECUTOR_BACKEND", "local"),
        "log_format": ("WEGENT_LOG_FORMAT", "console"),
        "log_level": ("WEGENT_LOG_LEVEL", "WARNING"),
        "temporal_ui_url": ("WEGENT_TEMPORAL_UI_URL", f"http://127.0.0.1:{options.ui_port}"),
    }
    for name, (variable, value) in defaults.items():
        if name not in configured:
            os.environ[variable] = value
    if options.local_model is not None:
        os.environ["WEGENT_LOCAL_MODEL"] = "1" if options.local_model else "0"
    if options.model_port is not None:
        os.environ["WEGENT_LOCAL_MODEL_PORT"] = str(options.model_port)
    get_settings.cache_clear()


@dataclass
class Embedded:
    """Everything `wegent up` started, so a shutdown (or a failed start-up) stops exactly that, in order."""

    options: UpOptions
    settings: Settings
    temporal: TemporalDevServer | None = None
    started_temporal: bool = False
    model: LocalModelServer | None = None
    endpoint: LocalModelEndpoint | None = None
    server: uvicorn.Server | None = None
    api_task: asyncio.Task[None] | None = None
    backend: Any = None  # the executor backend (activities.executors.base.ExecutorBackend)
    reviving: asyncio.Task[int] | None = None
    workers: Any = None  # worker.main.WorkerSet
    worker_task: asyncio.Task[None] | None = None
    demo_teams: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    # ------------------------------------------------------------------------------------------ start
    async def start(self) -> None:
        settings, options = self.settings, self.options
        began = time.monotonic()
        if port_open(options.host, options.port):
            raise RuntimeError(f"port {options.host}:{options.port} is already in use (see --port)")
        # The console decodes task payloads through the API's codec endpoint, preset here. The trailing slash
        # matters: the console (UI 2.54) resolves `decode` against it, and `.../codec` would become `.../decode`.
        self.temporal = TemporalDevServer(
            settings.state_dir, settings.temporal_address, options.ui_port, codec_endpoint=f"{self.url}/api/v1/codec/"
        )
        if settings.local_model and (settings.executor_backend or "local") != "local":
            log.warning(
                "embedded.local_model_unreachable",
                reason="the local model listens on 127.0.0.1; executors outside this host's network cannot reach it",
                executor_backend=settings.executor_backend,
            )
        if settings.local_model:
            self.model = LocalModelServer(
                settings.state_dir,
                settings.local_model_port,
                threads=settings.local_model_threads,
                context=settings.local_model_context,
                binary=settings.llama_server,
                model_path=settings.local_model_path,
            )
            self.model.start()  # spawned from this (main) thread: its parent-death signal follows us
        children = asyncio.gather(self.temporal.start(), self.model.wait_ready() if self.model else _none())
        await asyncio.sleep(0)  # lets the dev server spawn; the imports below then overlap both children's start-up

        from activities.relay import in_process_relay
        from api.main import app
        from api.realtime.server import relay_in_process
        from worker.main import build_context, build_workers

        self.started_temporal, self.endpoint = await children
        log.info("embedded.children_ready", seconds=round(time.monotonic() - began, 2))
        client = await self._temporal_client()
        fastapi_app = app.other_asgi_app
        relay = None if settings.redis_url else in_process_relay(fastapi_app.state.sio, fastapi_app.state.live)
        if relay is not None:
            relay_in_process(fastapi_app.state.sio)
        ctx = build_context(settings, relay)
        self.backend = ctx.backend
        # Executors suspended by the last Ctrl-C come back while the API starts, before the worker resumes.
        self.reviving = asyncio.create_task(revive_executors(ctx.backend, client, settings), name="revive")

        config = uvicorn.Config(
            app, host=options.host, port=options.port, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        # Signals are ours (a clean, ordered shutdown): keep uvicorn from taking them over.
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self.server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # uvicorn < 0.29
        self.api_task = asyncio.create_task(self.server.serve(), name="api")
        while not self.server.started:  # the lifespan (migrations, first admin) has run once this is set
            if self.api_task.done():
                await self.api_task
                raise RuntimeError(f"the API server stopped during start-up (is port {options.port} free?)")
            await asyncio.sleep(0.02)

        await self.reviving
        self.workers = build_workers(client, ctx)
        self.worker_task = asyncio.create_task(self.workers.run(), name="worker")

        if options.demo is not None:
            self.demo_teams = await self._apply_demo(options.demo)
        log.info("embedded.ready", seconds=round(time.monotonic() - began, 2))

    async def _temporal_client(self) -> Any:
        from temporalio.client import Client

        from wegent.temporal.client import connect, share_temporal
        from wegent.temporal.search_attributes import ensure_namespace, register

        settings = self.settings
        client: Client | None = None
        for attempt in range(100):  # a fresh dev server opens its port a moment before every service answers
            try:
                if client is None:
                    client = await connect(settings)
                if self.started_temporal:
                    await ensure_namespace(client, settings.temporal_namespace)
                await register(client, settings.temporal_namespace)
                share_temporal(client)  # the API starts workflows on the worker's client: eagerly
                return client
            except Exception as exc:
                if attempt == 99:
                    raise RuntimeError(f"Temporal at {settings.temporal_address} is not usable: {exc}") from exc
                await asyncio.sleep(0.1)
        raise AssertionError("unreachable")

    async def _apply_demo(self, path: Path) -> list[str]:
        from worker.demo import apply_demo

        report = await asyncio.to_thread(apply_demo, self.settings, path, self.endpoint)
        if report.skipped_reason:
            log.info("embedded.demo_skipped", reason=report.skipped_reason)
            print(f"wegent: demo resources skipped: {report.skipped_reason}", file=sys.stderr)
            return []
        log.info("embedded.demo_applied", file=str(path), applied=report.applied, kept=report.kept)
        return report.teams

    # ---------------------------------------------------------------------------------------- serve
    async def wait(self, stop: asyncio.Event) -> int:
        """Until a signal (0) or until the API or the worker stops by itself (1)."""
        assert self.api_task is not None and self.worker_task is not None
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({stopper, self.api_task, self.worker_task}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in done - {stopper}:
            error = task.exception() if not task.cancelled() else None
            log.error("embedded.component_stopped", component=task.get_name(), error=str(error))
            print(f"wegent: the {task.get_name()} stopped unexpectedly: {error}", file=sys.stderr)
            return 1
        return 0

    # ------------------------------------------------------------------------------------- shutdown
    async def shutdown(self) -> None:
        """Stop what was started, in reverse order; every stage runs even if an earlier one failed."""
        (self.settings.state_dir / "ready").unlink(missing_ok=True)
        if self.workers is not None:
            with _logged("worker"):
                await self.workers.shutdown(release_idle=False)  # suspend_executors below remembers them
            if self.worker_task is not None:
                await asyncio.gather(self.worker_task, return_exceptions=True)
        if self.reviving is not None and not self.reviving.done():
            self.reviving.cancel()
            await asyncio.gather(self.reviving, return_exceptions=True)
        if self.backend is not None:
            with _logged("executors"):
                await suspend_executors(self.backend, self.settings.state_dir)
        if self.server is not None:
            self.server.should_exit = True
            if self.api_task is not None:
                with _logged("api"):
                    await asyncio.wait_for(asyncio.gather(self.api_task, return_exceptions=True), 15)
        children = [c for c in (self.model, self.temporal) if c is not None]
        await asyncio.gather(*(asyncio.to_thread(c.stop) for c in children), return_exceptions=True)

    # --------------------------------------------------------------------------------------- banner
    def banner(self) -> str:
        settings, options = self.settings, self.options
        admin_file = settings.state_dir / "admin_password"
        if settings.admin_password:
            password = "(from WEGENT_ADMIN_PASSWORD)"
        elif admin_file.exists():
            password = admin_file.read_text().strip()
        else:
            password = "(set before this state folder was created)"
        ui = f"http://127.0.0.1:{options.ui_port}" if self.started_temporal else settings.temporal_ui_url
        temporal_note = "" if self.started_temporal else f"  (existing server at {settings.temporal_address})"
        if self.endpoint is not None:
            model = f"local = SmolLM2-135M-Instruct on llama-server at {self.endpoint.base_url}"
        elif settings.openai_api_key:
            model = f"local = {settings.openai_model} at {settings.openai_base_url}"
        else:
            model = "none (local model off and OPENAI_API_KEY unset)"
        lines = [
            "",
            "Wegent is up.",
            f"  Web app        {self.url}/   (sign in as the admin below)",
            f"  API            {self.url}/api/v1   (docs: {self.url}/docs)",
            f"  Socket.IO      {self.url}/socket.io  namespace /chat",
            f"  Temporal UI    {ui}{temporal_note}",
            f"  Model          {model}",
            f"  Admin          {settings.admin_username} / {password}",
            f"  State          {settings.state_dir.resolve()}",
        ]
        if self.demo_teams:
            lines.append(f"  Demo teams     {', '.join(self.demo_teams)}")
        cli = _cli_command()
        lines += ["", f"  Try:  {cli} login --server {self.url} -u {settings.admin_username}"]
        if "demo-pipeline" in self.demo_teams:
            lines.append(f'        {cli} run --team demo-pipeline "Plan a weekend trip to Lisbon"')
        elif self.demo_teams:
            lines.append(f'        {cli} run --team {self.demo_teams[0]} "Say hello"')
        lines += ["Press Ctrl-C to stop.", ""]
        return "\n".join(lines)


def _cli_command() -> str:
    """How the user runs the `wegent` CLI from here: plain `wegent` when it is ours on PATH, else its path."""
    ours = Path(sys.executable).parent / "wegent"
    found = shutil.which("wegent")
    if not ours.exists() or (found and Path(found).resolve() == ours.resolve()):
        return "wegent"
    try:
        return str(ours.relative_to(Path.cwd()))
    except ValueError:
        return str(ours)


async def _none() -> None:
    return None


@contextlib.contextmanager
def _logged(stage: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # shutdown goes on: a failed stage must not leave the children running
        log.warning("embedded.shutdown_stage_failed", stage=stage, error=str(exc))


# --------------------------------------------------------------------------------------------- main
async def run_embedded(options: UpOptions) -> int:
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 2:
            print("wegent: still shutting down, please wait…", file=sys.stderr, flush=True)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    stack = Embedded(options, settings)
    code = 0
    try:
        starting = asyncio.create_task(stack.start(), name="start-up")
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not starting.done():  # Ctrl-C during start-up
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        else:
            await starting  # raises a start-up failure
            print(stack.banner(), file=sys.stderr, flush=True)
            (settings.state_dir / "ready").write_text(stack.url + "\n")
            code = await stack.wait(stop)
    except Exception as exc:
        log.error("embedded.failed", error=str(exc))
        print(f"wegent: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        print("\nwegent: shutting down…", file=sys.stderr, flush=True)
        await stack.shutdown()
        print("wegent: stopped.", file=sys.stderr, flush=True)
    return code


def main(options: UpOptions | None = None) -> int:
    options = options or UpOptions()
    _defaults(options)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(run_embedded(options))
