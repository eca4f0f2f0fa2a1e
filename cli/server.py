"""Server-side commands: api, worker, db upgrade, users create, executor build."""

from __future__ import annotations

import argparse
import getpass
import os
import subprocess
import sys
from pathlib import Path

from cli.client import CLIError
from wegent.config import MIN_PASSWORD_LENGTH


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from wegent.config import get_settings

    settings = get_settings()
    workers = args.workers or settings.api_workers
    if workers > 1:
        if not settings.redis_url:
            raise CLIError(
                "several API processes share Socket.IO rooms and live progress through Redis: set WEGENT_REDIS_URL"
            )
        from core.db.bootstrap import bootstrap_database

        bootstrap_database()  # once, before the processes start: they must not race the migrations
        os.environ["WEGENT_API_WORKERS"] = str(workers)  # the processes configure Socket.IO from it
    uvicorn.run(
        "api.main:app",
        host=args.host,
        port=args.port,
        workers=workers,
        log_level="warning",
        access_log=False,  # the API logs every request itself (structured, with its request id)
        proxy_headers=True,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from worker.main import main as worker_main

    worker_main()
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from core.db.migrate import upgrade
    from wegent.config import get_settings

    upgrade(get_settings().resolved_database_url, args.revision)
    print(f"database upgraded to {args.revision}")
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from core.db.migrate import upgrade
    from core.db.session import get_sessionmaker
    from core.users import create_user
    from wegent.config import get_settings

    upgrade(get_settings().resolved_database_url)
    password = args.password or os.environ.get("WEGENT_NEW_USER_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CLIError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    with get_sessionmaker()() as db:
        try:
            user = create_user(db, args.username, password, "admin" if args.admin else "user")
        except IntegrityError as exc:
            raise CLIError(f"user '{args.username}' already exists") from exc
    print(f"created {user.role} '{user.username}' (id {user.id})")
    return 0


def cmd_executor_build(args: argparse.Namespace) -> int:
    script = Path(__file__).resolve().parents[2] / "scripts" / "build_executor_image.sh"
    if not script.exists():
        raise CLIError(f"build script not found at {script} (run from a source checkout)")
    return subprocess.call(["bash", str(script)])


def cmd_up(args: argparse.Namespace) -> int:
    from cli.embedded import UpOptions
    from cli.embedded import main as embedded_main
    from worker.demo import DEFAULT_DEMO

    demo = None if args.no_demo else Path(args.demo) if args.demo else DEFAULT_DEMO
    options = UpOptions(
        host=args.host,
        port=args.port,
        ui_port=args.ui_port,
        demo=demo,
        local_model=False if args.no_local_model else None,
        model_port=args.model_port,
    )
    return embedded_main(options)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="run everything in one process (embedded default) with the Temporal dev server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--ui-port", type=int, default=8233, help="Temporal web console port")
    p.add_argument("--demo", help="YAML of demo resources to apply at start (default: examples/demo.yaml)")
    p.add_argument("--no-demo", action="store_true", help="do not apply demo resources")
    p.add_argument(
        "--no-local-model",
        action="store_true",
        help="do not start the local model (llama-server); the Model 'local' then uses $OPENAI_API_KEY if set",
    )
    p.add_argument("--model-port", type=int, help="local model port (default $WEGENT_LOCAL_MODEL_PORT or 8181)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("api", help="run the API server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers", type=int, help="API processes sharing the port (default $WEGENT_API_WORKERS or 1; >1 needs Redis)"
    )
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("worker", help="run a Temporal worker")
    p.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply migrations (alembic upgrade)")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_db_upgrade)

    users = sub.add_parser("users", help="user accounts").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("create", help="create a user directly in the database")
    p.add_argument("username")
    p.add_argument("--admin", action="store_true")
    p.add_argument("--password", help="default: $WEGENT_NEW_USER_PASSWORD or a prompt")
    p.set_defaults(func=cmd_users_create)

    ex = sub.add_parser("executor", help="executor image").add_subparsers(dest="executor_command", required=True)
    p = ex.add_parser("build", help="build the executor image offline")
    p.set_defaults(func=cmd_executor_build)


def stderr(message: str) -> None:
    print(message, file=sys.stderr)
