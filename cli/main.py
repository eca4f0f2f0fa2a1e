"""`wegent` console script."""

from __future__ import annotations

import argparse
import sys

from cli import admin, audit, keys, resources, schedules, server, tasks
from cli.client import CLIError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wegent", description="Wegent: durable teams of AI agents on Temporal")
    sub = parser.add_subparsers(dest="command", required=True)
    server.register(sub)
    resources.register(sub)
    tasks.register(sub)
    schedules.register(sub)
    keys.register(sub)
    admin.register(sub)
    audit.register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except CLIError as exc:
        print(str(exc), file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
