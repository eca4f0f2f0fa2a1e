"""``python -m executor``: serve the executor API.

The token comes from ``EXECUTOR_TOKEN``; a warm pool's executor starts with ``EXECUTOR_POOL_KEY`` instead and is
given its task's token later, once (``POST /bind``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import structlog
import uvicorn

from executor.app import create_app
from executor.logs import configure_logging
from executor.runs import RunRegistry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m executor", description="Wegent executor HTTP server")
    parser.add_argument("--host", default=os.environ.get("EXECUTOR_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("EXECUTOR_PORT", "8080")))
    parser.add_argument("--workdir", default=os.environ.get("EXECUTOR_WORKDIR") or os.getcwd())
    parser.add_argument("--log-level", default=os.environ.get("EXECUTOR_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    log = structlog.get_logger("executor")
    token = os.environ.get("EXECUTOR_TOKEN", "")
    pool_key = os.environ.pop("EXECUTOR_POOL_KEY", "")  # not left for the agent's subprocesses to read
    if not token and not pool_key:
        log.error("executor_token_missing", hint="set EXECUTOR_TOKEN")
        return 2
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # Runtimes keep per-executor state (e.g. Agno's session store) here even when a run works elsewhere.
    os.environ["EXECUTOR_WORKDIR"] = str(workdir)
    app = create_app(token or None, workdir, pool_key or None)
    log.info("executor_listening", host=args.host, port=args.port, workdir=str(workdir))
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        log_config=None,  # keep the JSON logging configured above
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    _Server(config, app.state.registry).run()
    return 0


class _Server(uvicorn.Server):
    """Stopped while no run is active, the executor ends at once, by the signal, as it would after the graceful
    path: that path (its 0.1 s ticks, the lifespan, the thread pool) took about 0.2 s of every task's clean-up and
    had nothing to save. With a run active the graceful path cancels it first."""

    def __init__(self, config: uvicorn.Config, registry: RunRegistry) -> None:
        super().__init__(config)
        self._registry = registry

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._registry.active_count() == 0:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        super().handle_exit(sig, frame)


if __name__ == "__main__":
    sys.exit(main())
