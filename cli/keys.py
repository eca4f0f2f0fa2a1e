"""`wegent keys create NAME [--expires-days N] | list [--all] | revoke ID`: personal API keys."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.client import ApiClient
from cli.output import dump, table

HEADERS = ["ID", "NAME", "PREFIX", "USER", "CREATED", "EXPIRES", "LAST USED", "STATE"]


def _state(key: dict[str, Any]) -> str:
    if key.get("revokedAt"):
        return "revoked"
    return "active" if key.get("active") else "expired"


def _row(key: dict[str, Any]) -> list[Any]:
    short = lambda value: (value or "")[:16].replace("T", " ")  # noqa: E731 - minutes are enough here
    return [
        key["id"],
        key["name"],
        key["prefix"] + "…",
        key["username"],
        short(key["createdAt"]),
        short(key["expiresAt"]) or "never",
        short(key["lastUsedAt"]) or "never",
        _state(key),
    ]


def cmd_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.expires_days is not None:
        body["expiresDays"] = args.expires_days
    key = ApiClient().json("POST", "/api/v1/users/me/keys", json=body)
    # The key on stdout alone (scripts capture it); the note on stderr. It is never shown again.
    print(key["key"])
    expiry = f", expires {key['expiresAt']}" if key.get("expiresAt") else ""
    print(f"API key {key['id']} '{key['name']}' created{expiry}; store it now, it is not shown again", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    params = {"includeRevoked": "true"} if args.include_revoked else {}
    path = "/api/v1/admin/keys" if args.all else "/api/v1/users/me/keys"
    keys = ApiClient().json("GET", path, params=params)
    if args.output in ("yaml", "json"):
        print(dump(keys, args.output))
    else:
        print(table(HEADERS, [_row(k) for k in keys]) if keys else "no API keys")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    path = f"/api/v1/admin/keys/{args.id}" if args.any else f"/api/v1/users/me/keys/{args.id}"
    key = ApiClient().json("DELETE", path)
    print(f"API key {key['id']} '{key['name']}' revoked")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = sub.add_parser("keys", help="personal API keys (wg-...) for scripts and OpenAI clients")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; it is printed once")
    create.add_argument("name")
    create.add_argument("--expires-days", type=int, default=None, help="stop working after N days")
    create.set_defaults(func=cmd_create)
    listing = actions.add_parser("list", help="your keys (--all: everyone's, admins)")
    listing.add_argument("--all", action="store_true", help="every user's keys (admins)")
    listing.add_argument("--include-revoked", action="store_true")
    listing.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table")
    listing.set_defaults(func=cmd_list)
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--any", action="store_true", help="another user's key (admins)")
    revoke.set_defaults(func=cmd_revoke)
