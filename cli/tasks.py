"""Client commands for tasks: run (and stream), tasks, logs (history + live follow), cancel."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from cli.client import ApiClient, CLIError
from cli.output import table
from wegent.realtime import NAMESPACE, ClientEvent, ServerEvent

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
EXIT_CODES = {"COMPLETED": 0, "FAILED": 1, "CANCELLED": 2}


class Printer:
    """Streams answers to the terminal: a header per bot, text as it arrives, usage at the end."""

    def __init__(self, task_id: int, out: Any = sys.stdout) -> None:
        self.task_id = task_id
        self.out = out
        self.offsets: dict[int, int] = {}
        self.runs: dict[int, str] = {}
        self.texts: dict[int, str] = {}
        self.finished: set[int] = set()
        self.usage = {"input_tokens": 0, "output_tokens": 0, "cost": 0.0}
        self.totals: dict[str, Any] | None = None  # the task's own usage, read from the API at the end
        self.state: str | None = None
        self.error: str | None = None
        self.done = asyncio.Event()
        self.spinner = sys.stderr.isatty()

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def on_start(self, data: dict[str, Any]) -> None:
        message = data["message_id"]
        if self.runs.get(message) == data.get("run_id"):
            return
        if message in self.runs:
            self.write("\n[retrying this step]\n")
        self.runs[message] = data.get("run_id", "")
        self.offsets[message] = 0
        self.texts[message] = ""
        self.write(f"\n── {data.get('bot')} (step {data.get('step', 0) + 1}) ──\n")

    def on_chunk(self, data: dict[str, Any]) -> None:
        message = data["message_id"]
        if data.get("run_id") != self.runs.get(message) or data["offset"] <= self.offsets.get(message, 0):
            return  # an old run's chunk or one we already showed
        self.offsets[message] = data["offset"]
        self.texts[message] = self.texts.get(message, "") + data["content"]
        self.write(data["content"])

    def on_done(self, data: dict[str, Any]) -> None:
        if data["message_id"] in self.finished:
            return
        self.finished.add(data["message_id"])
        usage = data.get("usage") or {}
        for key in self.usage:
            self.usage[key] += usage.get(key, 0) or 0
        self.write("\n")

    def on_status(self, data: dict[str, Any]) -> None:
        if data.get("task_id") != self.task_id:
            return
        self.state = data["state"]
        if data.get("error"):
            self.error = data["error"]
        if self.state in TERMINAL:
            self.done.set()

    def set_totals(self, usage: dict[str, Any]) -> None:
        self.totals = {
            "input_tokens": usage.get("inputTokens") or 0,
            "output_tokens": usage.get("outputTokens") or 0,
            "cost": usage.get("cost") or 0.0,
        }

    def summary(self) -> str:
        # The stored totals are the final word: the events seen cover only what streamed while we watched.
        u = self.totals or self.usage
        text = f"\n[{self.state}] tokens in {u['input_tokens']}, out {u['output_tokens']}"
        if u["cost"]:
            text += f", cost {u['cost']:.6f}"
        if self.error and self.state != "COMPLETED":
            text += f"\nerror: {self.error}"
        return text


async def _stream(api: ApiClient, start: dict[str, Any] | None, task_id: int | None, follow: bool = True) -> int:
    import socketio

    sio = socketio.AsyncClient(reconnection=True)
    printer: Printer | None = Printer(task_id) if task_id else None
    pending: list[tuple[str, dict[str, Any]]] = []

    def handler(kind: str):  # type: ignore[no-untyped-def]
        async def handle(data: dict[str, Any]) -> None:
            if printer is None:
                pending.append((kind, data))
                return
            dispatch(printer, kind, data)

        return handle

    for kind in (ServerEvent.CHAT_START, ServerEvent.CHAT_CHUNK, ServerEvent.CHAT_DONE, ServerEvent.TASK_STATUS):
        sio.on(kind, handler(kind), namespace=NAMESPACE)
    connections = 0

    async def on_connect() -> None:
        nonlocal connections
        connections += 1
        if connections > 1 and printer is not None:
            asyncio.get_running_loop().create_task(_catch_up(sio, printer))

    sio.on("connect", on_connect, namespace=NAMESPACE)
    try:
        await sio.connect(
            api.server, auth={"token": api.token}, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=10
        )
    except socketio.exceptions.ConnectionError as exc:
        raise CLIError(f"cannot open the live stream: {exc}") from exc
    try:
        if start is not None:
            ack = await sio.call(ClientEvent.CHAT_SEND, start, namespace=NAMESPACE, timeout=60)
            if not ack.get("ok"):
                raise CLIError(f"error {ack.get('status')}: {ack.get('error')}")
            task_id = ack["task_id"]
            printer = Printer(task_id)
            print(f"task {task_id} started", file=sys.stderr)
            for kind, data in pending:
                dispatch(printer, kind, data)
        assert printer is not None and task_id is not None
        joined = await sio.call(ClientEvent.TASK_JOIN, {"task_id": task_id}, namespace=NAMESPACE, timeout=60)
        if not joined.get("ok"):
            raise CLIError(f"error {joined.get('status')}: {joined.get('error')}")
        if start is None:
            for m in joined["task"]["messages"]:
                if m["status"] == "done" or m["role"] == "user":
                    who = "you" if m["role"] == "user" else m["bot"]
                    printer.write(f"\n── {who} ──\n{m['content']}\n")
                    printer.finished.add(m["id"])
            for live in joined["live"]:
                printer.on_start(
                    {
                        "message_id": live["message_id"],
                        "run_id": live["run_id"],
                        "bot": live["bot"],
                        "step": live["step"] or 0,
                    }
                )
                printer.write(live["content"])
                printer.offsets[live["message_id"]] = live["offset"]
                printer.texts[live["message_id"]] = live["content"]
        if not joined.get("streaming", True):
            print(
                "note: this server relays no live events (no shared bus: WEGENT_REDIS_URL is unset), "
                "so the output below comes from polling the database",
                file=sys.stderr,
            )
        state = joined["task"]["state"]
        if state in TERMINAL and not (start is not None):
            printer.state = state
            printer.error = joined["task"].get("error")
            printer.done.set()
        if not follow:
            printer.state = state
            printer.done.set()
        poller = asyncio.create_task(_poll(api, printer))
        try:
            await printer.done.wait()
        finally:
            poller.cancel()
        await _read_totals(api, printer)
        print(printer.summary(), file=sys.stderr)
        return EXIT_CODES.get(printer.state or "", 1)
    finally:
        await sio.disconnect()


async def _poll(api: ApiClient, printer: Printer, every: float = 1.5) -> None:
    """A safety net under the live stream (no shared bus, a missed event): the database has the final word."""
    while not printer.done.is_set():
        await asyncio.sleep(every)
        try:
            response = await asyncio.to_thread(api.request, "GET", f"/api/v1/tasks/{printer.task_id}")
        except CLIError:
            continue
        if response.status_code != 200:
            continue
        task = response.json()
        if task["state"] in TERMINAL:
            await asyncio.sleep(0.5)  # let in-flight live events land first
            _print_missed(printer, task["messages"])
            printer.on_status({"task_id": printer.task_id, "state": task["state"], "error": task.get("error")})


async def _read_totals(api: ApiClient, printer: Printer) -> None:
    try:
        response = await asyncio.to_thread(api.request, "GET", f"/api/v1/tasks/{printer.task_id}")
    except CLIError:
        return
    if response.status_code == 200:
        printer.set_totals(response.json().get("usage") or {})


def _print_missed(printer: Printer, messages: list[dict[str, Any]]) -> None:
    for m in messages:
        if m["role"] != "assistant" or m["status"] != "done" or m["id"] in printer.finished:
            continue
        shown = printer.texts.get(m["id"])
        if shown is None:
            printer.write(f"\n── {m['bot']} (step {m['step'] + 1}) ──\n")
            shown = ""
        printer.write(m["content"][len(shown) :] if m["content"].startswith(shown) else "\n" + m["content"])
        usage = m["usage"]
        printer.on_done(
            {
                "message_id": m["id"],
                "usage": {
                    "input_tokens": usage["inputTokens"],
                    "output_tokens": usage["outputTokens"],
                    "cost": usage["cost"],
                },
            }
        )


async def _catch_up(sio: Any, printer: Printer) -> None:
    """After a reconnect: re-join the room, print what was missed, and notice if the task ended meanwhile."""
    joined = await sio.call(ClientEvent.TASK_JOIN, {"task_id": printer.task_id}, namespace=NAMESPACE, timeout=60)
    if not joined.get("ok"):
        return
    _print_missed(printer, joined["task"]["messages"])
    for live in joined["live"]:
        if live["message_id"] in printer.offsets and live["run_id"] == printer.runs.get(live["message_id"]):
            await sio.call(
                ClientEvent.CHAT_RESUME,
                {
                    "task_id": printer.task_id,
                    "message_id": live["message_id"],
                    "offset": printer.offsets[live["message_id"]],
                },
                namespace=NAMESPACE,
            )
    state = joined["task"]["state"]
    if state in TERMINAL:
        printer.on_status({"task_id": printer.task_id, "state": state, "error": joined["task"].get("error")})


def dispatch(printer: Printer, kind: str, data: dict[str, Any]) -> None:
    if kind == ServerEvent.TASK_STATUS:
        printer.on_status(data)
    elif data.get("task_id") == printer.task_id:
        {
            ServerEvent.CHAT_START: printer.on_start,
            ServerEvent.CHAT_CHUNK: printer.on_chunk,
            ServerEvent.CHAT_DONE: printer.on_done,
        }[kind](data)


def cmd_run(args: argparse.Namespace) -> int:
    api = ApiClient()
    team = {"name": args.team, "namespace": args.namespace}
    return asyncio.run(_stream(api, {"team": team, "message": args.prompt, "title": args.title}, None))


def cmd_tasks(args: argparse.Namespace) -> int:
    api = ApiClient()
    params: dict[str, Any] = {"limit": args.limit}
    if args.state:
        params["state"] = args.state
    if args.team:
        params["team"] = args.team
    body = api.json("GET", "/api/v1/tasks", params=params)
    rows = [
        [
            t["id"],
            t["state"],
            t["team"]["name"],
            t["title"][:40],
            t["usage"]["outputTokens"],
            (t["createdAt"] or "")[:19],
        ]
        for t in body["items"]
    ]
    print(table(["ID", "STATE", "TEAM", "TITLE", "TOKENS OUT", "CREATED"], rows) if rows else "no tasks")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    return asyncio.run(_stream(ApiClient(), None, args.task, follow=args.follow))


def cmd_cancel(args: argparse.Namespace) -> int:
    task = ApiClient().json("POST", f"/api/v1/tasks/{args.task}/cancel")
    print(f"task {task['id']} {task['state']}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    body = {"model": {"name": args.model, "namespace": args.namespace}} if args.model else {}
    task = ApiClient().json("POST", f"/api/v1/tasks/{args.task}/retry", json=body)
    print(f"task {task['id']} {task['state']}: retrying from the failed step")
    if args.follow:
        return asyncio.run(_stream(ApiClient(), None, args.task))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retry", help="retry a FAILED task from the step that failed")
    p.add_argument("task", type=int)
    p.add_argument("--model", help="run the failed and later steps on this Model")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("-f", "--follow", action="store_true", help="stream the retried steps")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("run", help="start a task and stream its answers")
    p.add_argument("--team", required=True)
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--title")
    p.add_argument("prompt")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tasks", help="list your tasks")
    p.add_argument("--state")
    p.add_argument("--team")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("logs", help="a task's messages, then its live stream until it ends")
    p.add_argument("task", type=int)
    p.add_argument("--no-follow", dest="follow", action="store_false")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("cancel", help="cancel a task")
    p.add_argument("task", type=int)
    p.set_defaults(func=cmd_cancel)
