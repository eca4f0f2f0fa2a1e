"""`wegent audit`: the audit trail (your own entries; everyone's with --all, for admins)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.client import ApiClient
from cli.output import table


def cmd_audit(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    for name in ("actor", "action", "target", "since", "until"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    path = "/api/v1/admin/audit" if args.all else "/api/v1/users/me/audit"
    body = ApiClient().json("GET", path, params=params)
    rows = [[e["at"][:19], e["actor"] or "-", e["action"], e["target"], e["address"] or ""] for e in body["items"]]
    print(table(["AT", "ACTOR", "ACTION", "TARGET", "ADDRESS"], rows) if rows else "no entries")
    if body["total"] > len(rows):
        print(f"({len(rows)} of {body['total']}; --limit for more)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="the audit trail: your own entries, or everyone's with --all (admins)")
    p.add_argument("--all", action="store_true", help="everyone's entries (admins)")
    p.add_argument("--actor", help="username")
    p.add_argument("--action", help="e.g. task.cancel, or a prefix such as 'task.'")
    p.add_argument("--target", help="substring of the target, e.g. task/42")
    p.add_argument("--since", help="ISO time")
    p.add_argument("--until", help="ISO time")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_audit)
