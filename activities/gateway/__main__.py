"""``python -m activities.gateway``: the gateway process a worker starts (see ``GatewayProcess``)."""

from __future__ import annotations

import argparse
import asyncio

from activities.gateway.server import run_process
from wegent.config import get_settings
from wegent.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m activities.gateway")
    parser.add_argument("--hosts", default="127.0.0.1", help="comma-separated addresses to listen on")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent", type=int, required=True, help="the worker's pid")
    parser.add_argument("--linger", type=float, default=30.0)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    asyncio.run(run_process(hosts, args.port, args.parent, args.linger))


if __name__ == "__main__":
    main()
