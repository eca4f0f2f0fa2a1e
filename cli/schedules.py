"""`wegent schedules list|get|trigger|pause|resume|backfill|runs`: schedules by id or by name."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from cli.client import ApiClient, CLIError
from cli.output import dump, table


def resolve(api: ApiClient, ref: str, namespace: str) -> int:
    """A schedule id, or the id of the caller's schedule with that name in `namespace`."""
    if ref.isdigit():
        return int(ref)
    items = api.json("GET", "/api/v1/schedules", params={"limit": 500})["items"]
    for item in items:
        if item["name"] == ref and item["namespace"] == namespace:
            return int(item["id"])
    raise CLIError(f"no schedule named '{namespace}/{ref}'")


def _trigger(s: dict[str, Any]) -> str:
    trigger = s.get("trigger") or {}
    return f"cron {trigger['cron']}" if trigger.get("cron") else f"every {trigger.get('interval')}"


def _row(s: dict[str, Any]) -> list[Any]:
    status = s.get("status") or {}
    runs = status.get("runs") or {}
    nxt = (status.get("nextRunTimes") or [""])[0]
    last = status.get("lastRun") or {}
    return [
        s["id"],
        f"{s['namespace']}/{s['name']}",
        status.get("state", "?"),
        s["team"]["name"],
        _trigger(s),
        s.get("timezone", ""),
        nxt[:25],
        f"#{last['taskId']} {last['state']}" if last else "",
        runs.get("succeeded", 0),
        runs.get("failed", 0),
    ]


HEADERS = ["ID", "NAME", "STATE", "TEAM", "TRIGGER", "TZ", "NEXT RUN", "LAST RUN", "OK", "FAILED"]


def cmd_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.all:
        params["all"] = "true"
    items = ApiClient().json("GET", "/api/v1/schedules", params=params)["items"]
    if args.output in ("yaml", "json"):
        print(dump(items, args.output))
    else:
        print(table(HEADERS, [_row(s) for s in items]) if items else "no schedules")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    api = ApiClient()
    schedule = api.json("GET", f"/api/v1/schedules/{resolve(api, args.schedule, args.namespace)}")
    print(dump(schedule, args.output if args.output in ("yaml", "json") else "yaml"))
    return 0


def _summary(s: dict[str, Any], what: str) -> None:
    status = s.get("status") or {}
    print(f"schedule {s['id']} ({s['namespace']}/{s['name']}) {what}; state {status.get('state', '?')}")
    if s.get("warning"):
        print(f"warning: {s['warning']}")
    print(f"console: {s['consoleUrl']}")


def cmd_trigger(args: argparse.Namespace) -> int:
    api = ApiClient()
    body = {"overlap": args.overlap} if args.overlap else {}
    s = api.json("POST", f"/api/v1/schedules/{resolve(api, args.schedule, args.namespace)}/trigger", json=body)
    _summary(s, "triggered")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    api = ApiClient()
    s = api.json("POST", f"/api/v1/schedules/{resolve(api, args.schedule, args.namespace)}/pause")
    _summary(s, "paused")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    api = ApiClient()
    s = api.json("POST", f"/api/v1/schedules/{resolve(api, args.schedule, args.namespace)}/resume")
    _summary(s, "resumed")
    return 0


def _when(value: str) -> str:
    """ISO 8601; a time without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def cmd_backfill(args: argparse.Namespace) -> int:
    api = ApiClient()
    body: dict[str, Any] = {"start": args.start, "end": args.end}
    if args.overlap:
        body["overlap"] = args.overlap
    s = api.json("POST", f"/api/v1/schedules/{resolve(api, args.schedule, args.namespace)}/backfill", json=body)
    expected = s["backfill"]["expectedRuns"]
    _summary(s, f"backfilled: {len(expected)} run(s)")
    for when in expected:
        print(f"  {when}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    api = ApiClient()
    params: dict[str, Any] = {"limit": args.limit}
    if args.state:
        params["state"] = args.state
    body = api.json("GET", f"/api/v1/schedules/{resolve(api, args.schedule, args.namespace)}/runs", params=params)
    if args.output in ("yaml", "json"):
        print(dump(body, args.output))
        return 0
    rows = [
        [t["id"], t["state"], t.get("scheduledTime") or "", t["title"][:50], (t["createdAt"] or "")[:19]]
        for t in body["items"]
    ]
    print(table(["TASK", "STATE", "SCHEDULED", "TITLE", "CREATED"], rows) if rows else "no runs yet")
    runs = body["runs"]
    print(
        f"\n{runs['total']} run(s): {runs['succeeded']} succeeded, {runs['failed']} failed, "
        f"{runs['cancelled']} cancelled, {runs['active']} active"
    )
    return 0


OVERLAPS = ["skip", "buffer_one", "buffer_all", "allow_all", "cancel_previous"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("schedules", help="scheduled tasks: list, trigger, pause, resume, backfill, runs")
    commands = parser.add_subparsers(dest="schedules_command", required=True)

    def target(p: argparse.ArgumentParser) -> None:
        p.add_argument("schedule", help="schedule id or name")
        p.add_argument("-n", "--namespace", default="default", help="namespace of a schedule given by name")

    p = commands.add_parser("list", help="your schedules with their status")
    p.add_argument("--all", action="store_true", help="admins: every user's schedules")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("get", help="one schedule with its status")
    target(p)
    p.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")
    p.set_defaults(func=cmd_get)

    p = commands.add_parser("trigger", help="run now")
    target(p)
    p.add_argument("--overlap", choices=OVERLAPS, help="override the overlap policy for this run")
    p.set_defaults(func=cmd_trigger)

    p = commands.add_parser("pause", help="pause (sets spec.enabled: false)")
    target(p)
    p.set_defaults(func=cmd_pause)

    p = commands.add_parser("resume", help="resume (sets spec.enabled: true)")
    target(p)
    p.set_defaults(func=cmd_resume)

    p = commands.add_parser("backfill", help="start the runs of a past window")
    target(p)
    p.add_argument("--start", required=True, type=_when, help="ISO 8601 (UTC unless an offset is given)")
    p.add_argument("--end", required=True, type=_when, help="ISO 8601 (UTC unless an offset is given)")
    p.add_argument("--overlap", choices=OVERLAPS, help="default buffer_all: one run after another")
    p.set_defaults(func=cmd_backfill)

    p = commands.add_parser("runs", help="the tasks a schedule created")
    target(p)
    p.add_argument("--state")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("-o", "--output", choices=["table", "yaml", "json"], default="table")
    p.set_defaults(func=cmd_runs)
