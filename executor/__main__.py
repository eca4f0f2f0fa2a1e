"""``python -m executor``: serve the executor API.

The token comes from ``EXECUTOR_TOKEN``; a warm pool's executor starts with ``EXECUTOR_POOL_KEY`` instead and is
given its task's token later, once (``POST /bind``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import structlog
import uvicorn

from executor.app import create_app
from executor.logs import configure_logging


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
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        log_config=None,  # keep the JSON logging configured above
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
