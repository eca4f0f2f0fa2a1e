"""Client commands: login, apply, get, delete."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from cli.client import ApiClient, CLIError, save_credentials, server_url
from cli.output import dump, table
from wegent.resources import PLURALS, SPEC_MODELS


def plural_for(kind: str) -> str:
    key = kind.lower()
    if key in PLURALS:
        return key
    if key + "s" in PLURALS:
        return key + "s"
    for name in SPEC_MODELS:
        if name.lower() == key:
            return name.lower() + "s"
    raise CLIError(f"unknown kind '{kind}'; expected one of: {', '.join(sorted(PLURALS))}")


def cmd_login(args: argparse.Namespace) -> int:
    server = server_url(args.server)
    username = args.username or input("Username: ")
    password = args.password or getpass.getpass("Password: ")
    api = ApiClient(server=server, token="")
    data = api.json("POST", "/api/v1/auth/login", json={"username": username, "password": password})
    path = save_credentials(server, data["access_token"], username)
    print(f"logged in to {server} as {username} (token saved to {path}, expires {data['expires_at']})")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    api = ApiClient()
    params = {"scope": "public"} if args.public else {}
    response = api.request(
        "POST",
        f"/api/v1/namespaces/{args.namespace}/apply",
        content=text.encode(),
        headers={"content-type": "application/yaml"},
        params=params,
    )
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    results = body.get("results") if isinstance(body, dict) else None
    if not results:
        from cli.client import format_error

        raise CLIError(format_error(response))
    for r in results:
        label = f"{r.get('kind') or '?'}/{r.get('name') or '?'}"
        print(f"{label} {r['result']}" + (f" ({r['detail']})" if r.get("detail") else ""))
        for err in r.get("errors", []):
            print(f"  document {r['index']}: {err['field']}: {err['message']}")
    return 0 if body.get("applied") else 1


def cmd_get(args: argparse.Namespace) -> int:
    api = ApiClient()
    plural = plural_for(args.kind)
    params = {"scope": "public"} if args.public else {}
    base = f"/api/v1/namespaces/{args.namespace}/{plural}"
    if args.name:
        doc = api.json("GET", f"{base}/{args.name}", params=params)
        if args.output in ("yaml", "json"):
            print(dump(doc, args.output))
        else:
            print(_table([doc]))
        return 0
    items = api.json("GET", base, params=params)["items"]
    if args.output in ("yaml", "json"):
        print(dump(items, args.output))
    elif items:
        print(_table(items))
    else:
        print(f"no {plural} in namespace {args.namespace}")
    return 0


def _table(items: list[dict]) -> str:
    rows = []
    for doc in items:
        meta, spec = doc["metadata"], doc["spec"]
        rows.append(
            [
                meta["name"],
                meta["namespace"],
                "public" if meta.get("public") else "own",
                _summary(doc["kind"], spec),
                meta.get("resourceVersion"),
                (meta.get("updatedTimestamp") or "")[:19],
            ]
        )
    return table(["NAME", "NAMESPACE", "SCOPE", "SUMMARY", "VERSION", "UPDATED"], rows)


def _summary(kind: str, spec: dict) -> str:
    if kind == "Model":
        return f"{spec.get('provider')} {spec.get('model', '')}".strip()
    if kind == "Shell":
        return spec.get("shellType", "")
    if kind == "Bot":
        return f"ghost={spec['ghostRef']['name']} shell={spec['shellRef']['name']} model={spec['modelRef']['name']}"
    if kind == "Team":
        return f"{spec.get('collaborationModel')}: " + ", ".join(m["botRef"]["name"] for m in spec["members"])
    if kind == "Ghost":
        prompt = spec.get("systemPrompt", "")
        return prompt[:40] + ("…" if len(prompt) > 40 else "")
    if kind in ("Task", "Schedule"):
        return f"team={spec['teamRef']['name']}"
    if kind == "Workspace":
        return spec["repository"]["gitUrl"]
    return ""


def cmd_delete(args: argparse.Namespace) -> int:
    api = ApiClient()
    if args.kind.lower() in ("task", "tasks"):  # tasks are numbered, not named resources
        if not args.name.isdigit():
            raise CLIError(f"a task is deleted by its number, not {args.name!r}")
        api.json("DELETE", f"/api/v1/tasks/{args.name}")
        print(f"task {args.name} deleted")
        return 0
    params: dict[str, str] = {}
    if args.force:
        params["force"] = "true"
    if args.public:
        params["scope"] = "public"
    api.json("DELETE", f"/api/v1/namespaces/{args.namespace}/{plural_for(args.kind)}/{args.name}", params=params)
    print(f"{args.kind}/{args.name} deleted")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("login", help="log in and save a token")
    p.add_argument("--server", help="API base URL (default $WEGENT_API_URL or http://127.0.0.1:8000)")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password", help="prefer the prompt; this is visible in the process list")
    p.set_defaults(func=cmd_login)

    def ns(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-n", "--namespace", default="default")
        parser.add_argument("--public", action="store_true", help="system-owned resources (admins)")

    p = sub.add_parser("apply", help="create or update resources from a YAML file")
    p.add_argument("-f", "--file", required=True, help="YAML file, or - for standard input")
    ns(p)
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("get", help="list resources of a kind, or show one")
    p.add_argument("kind")
    p.add_argument("name", nargs="?")
    p.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table")
    ns(p)
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("delete", help="delete a resource")
    p.add_argument("kind")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="delete even if other resources reference it")
    ns(p)
    p.set_defaults(func=cmd_delete)
