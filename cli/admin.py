"""Operators' commands: `wegent admin executors`."""

from __future__ import annotations

import argparse

from cli.client import ApiClient
from cli.output import table


def cmd_executors(args: argparse.Namespace) -> int:
    body = ApiClient().json("GET", "/api/v1/admin/executors")
    rows = [
        [
            h["host"],
            h["backend"] or "-",
            "yes" if h["online"] else "no",
            f"{h['slotsInUse']}/{h['capacity']}",
            len(h["sandboxes"]),
        ]
        for h in body["hosts"]
    ]
    print(table(["HOST", "BACKEND", "ONLINE", "SLOTS", "SANDBOXES"], rows) if rows else "no worker hosts")
    sandboxes = [
        [h["host"], s["taskId"] or "-", s["owner"] or "-", s["state"] or "-", s["port"], f"{s['ageSeconds']:.0f}s"]
        for h in body["hosts"]
        for s in h["sandboxes"]
    ]
    if sandboxes:
        print()
        print(table(["HOST", "TASK", "OWNER", "STATE", "PORT", "AGE"], sandboxes))
    if body["queued"]:
        print()
        queued = [
            [q["position"], q["taskId"], q["owner"], q["team"], f"{q['waitingSeconds']:.0f}s"] for q in body["queued"]
        ]
        print(table(["#", "TASK", "OWNER", "TEAM", "WAITING"], queued))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    admin = sub.add_parser("admin", help="operators' views (admins)").add_subparsers(
        dest="admin_command", required=True
    )
    p = admin.add_parser("executors", help="worker hosts: slots in use, live sandboxes, and the queued tasks")
    p.set_defaults(func=cmd_executors)
