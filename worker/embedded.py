"""`wegent up`: the whole product in one process — API, Socket.IO, worker — plus the Temporal dev server.

The embedded default uses SQLite in the state folder, an in-process event bus and local-process executors,
but runs exactly the same workflows, activities and executor code as a production deployment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import uvicorn

from wegent.config import get_settings
from wegent.logging import configure_logging, get_logger

log = get_logger("embedded")


def _defaults() -> None:
    # Embedded choices, unless the user configured otherwise.
    os.environ.setdefault("WEGENT_EXECUTOR_BACKEND", "local")
    os.environ.setdefault("WEGENT_LOG_FORMAT", "console")
    os.environ.setdefault("WEGENT_LOG_LEVEL", "WARNING")


async def run_embedded(host: str, port: int, ui_port: int, demo: Path | None) -> None:
    from activities.relay import in_process_relay
    from api.main import app
    from worker.client import connect
    from worker.main import build_context, build_workers
    from worker.search_attributes import register
    from worker.temporal_dev import TemporalDevServer

    settings = get_settings()
    temporal = TemporalDevServer(settings.state_dir, settings.temporal_address, ui_port)
    started = await temporal.start()
    try:
        client = await connect(settings)
        await register(client, settings.temporal_namespace)
        fastapi_app = app.other_asgi_app
        relay = None
        if not settings.redis_url:
            relay = in_process_relay(fastapi_app.state.sio, fastapi_app.state.live)
        workers = build_workers(client, build_context(settings, relay))
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        api_task = asyncio.create_task(server.serve())
        worker_task = asyncio.create_task(workers.run())
        while not server.started:
            if api_task.done():
                await api_task
                raise RuntimeError("the API server stopped during start-up")
            await asyncio.sleep(0.05)
        _banner(settings, host, port, ui_port, started)
        if demo is not None:
            from worker.demo import apply_demo

            await apply_demo(f"http://{host}:{port}", demo)
        (settings.state_dir / "ready").write_text(f"http://{host}:{port}\n")
        await stop.wait()
        print("\nwegent: shutting down…", file=sys.stderr)
        (settings.state_dir / "ready").unlink(missing_ok=True)
        await workers.shutdown()
        server.should_exit = True
        await asyncio.gather(api_task, worker_task, return_exceptions=True)
    finally:
        temporal.stop()


def _banner(settings, host: str, port: int, ui_port: int, started_temporal: bool) -> None:  # type: ignore[no-untyped-def]
    admin_file = settings.state_dir / "admin_password"
    password = settings.admin_password or (admin_file.read_text().strip() if admin_file.exists() else "(unchanged)")
    ui = settings.temporal_ui_url if not started_temporal else f"http://127.0.0.1:{ui_port}"
    print(
        "\n".join(
            [
                "",
                "Wegent is up.",
                f"  API            http://{host}:{port}/api/v1   (docs: http://{host}:{port}/docs)",
                f"  Socket.IO      http://{host}:{port}/socket.io  namespace /chat",
                f"  Temporal UI    {ui}",
                f"  Admin          {settings.admin_username} / {password}",
                f"  State          {settings.state_dir.resolve()}",
                "",
                f"  Try:  wegent login --server http://{host}:{port} -u {settings.admin_username}",
                '        wegent run --team demo-solo "Say hello"',
                "Press Ctrl-C to stop.",
                "",
            ]
        ),
        file=sys.stderr,
        flush=True,
    )


def main(host: str = "127.0.0.1", port: int = 8000, ui_port: int = 8233, demo: Path | None = None) -> None:
    _defaults()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_embedded(host, port, ui_port, demo))
