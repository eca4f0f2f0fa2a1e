"""An OpenAI call as a Wegent task turn: the prompt from the messages, the task started or continued, and the
turn's answer followed as it is produced.

The answer of a turn is the text of every assistant step of that turn, in the order the steps started,
separated by a blank line (a solo team has one step). Streamed and non-streamed calls read it the same way, so
both return the same text: live chunks from the task's live log (Redis, or the in-process bus) while a step
runs, and the stored message when a step ends. Without live events (no shared bus) the database alone is
polled, so text arrives a step at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import tasks as svc
from core.db.models import Message, Task, User
from core.db.session import in_session
from core.live_store import LiveStore
from core.resource_store import StoreError
from core.tasks import operations as task_ops
from wegent.realtime import ServerEvent
from workflows.models import TaskState

T = TypeVar("T")
DB_POLL_SECONDS = 0.25
LIVE_POLL_SECONDS = 0.05
STEP_SEPARATOR = "\n\n"
# A turn ends for the caller when the task is finished, or parked waiting for a pipeline approval.
ENDED = (*TaskState.TERMINAL, TaskState.PENDING_CONFIRMATION)
DELETED = "DELETED"  # not a task state: the row is gone


class ApiError(Exception):
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None, kind: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def text_of(content: Any, param: str) -> str:
    """Plain text of a message's content: a string, or a list of text parts (chat or responses style)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces = []
    for index, part in enumerate(content):
        if part.get("type") not in ("text", "input_text", "output_text") or not isinstance(part.get("text"), str):
            raise ApiError(400, "only text content parts are supported", f"{param}[{index}]", "unsupported_content")
        pieces.append(part["text"])
    return "".join(pieces)


def build_prompt(messages: list[tuple[str, str]], param: str, continuing: bool) -> tuple[str, str]:
    """(prompt, title) from (role, text) pairs. The last message must be the user's: it is what the team answers.
    A new task gets the earlier messages as context before it; a continued task already has its own history."""
    if not messages or messages[-1][0] != "user":
        raise ApiError(400, "the last message must have role 'user'", param, "invalid_value")
    question = messages[-1][1]
    if not question.strip():
        raise ApiError(400, "the last user message is empty", param, "invalid_value")
    title = question.strip().splitlines()[0][:255]
    earlier = [(role, text) for role, text in messages[:-1] if text.strip()]
    if continuing or not earlier:
        prompt = question
    else:
        context = "\n\n".join(f"[{role}]\n{text}" for role, text in earlier)
        prompt = f"Earlier messages in this conversation:\n\n{context}\n\n[user]\n{question}"
    if len(prompt) > 200_000:
        raise ApiError(400, "the messages are longer than 200000 characters", param, "string_above_max_length")
    return prompt, title


def parse_team(model: str) -> tuple[str, str]:
    namespace, _, name = model.rpartition("/")
    return namespace or "default", name


@dataclass
class Turn:
    task: Task
    message_id: int  # the user's message of this turn; the turn's answers come after it
    model: str


async def start_turn(
    user: User, model: str, prompt: str, title: str, task_id: int | None, task_param: str = "task"
) -> Turn:
    """A new task of the team ``model``, or a follow-up turn of ``task_id`` (which must belong to that team);
    ``task_param`` names where the task id came from, for errors."""
    namespace, name = parse_team(model)
    if task_id is None:
        try:
            task, message = await task_ops.create_task(user, name, namespace, prompt, title, None, {"source": "openai"})
        except StoreError as exc:
            if exc.errors and exc.errors[0].field == "team.name":
                message = f"The model '{model}' does not exist (no such team)"
                raise ApiError(404, message, "model", "model_not_found") from exc
            raise
        return Turn(task, message.id, f"{namespace}/{name}")
    try:
        task = await in_session(lambda db: svc.scoped_task(db, user, task_id))
    except StoreError as exc:
        raise ApiError(404, f"task {task_id} not found", task_param, "task_not_found") from exc
    if (task.team_namespace, task.team_name) != (namespace, name):
        team = f"{task.team_namespace}/{task.team_name}"
        raise ApiError(400, f"task {task_id} belongs to the team '{team}', not '{model}'", "model", "model_mismatch")
    task, message = await task_ops.follow_up(user, task_id, prompt)
    return Turn(task, message.id, f"{namespace}/{name}")


@dataclass
class TurnResult:
    state: str
    error: str | None
    text: str
    input_tokens: int
    output_tokens: int


@dataclass
class _Follow:
    """What has been sent for each answer message of the turn (by message id, which is step start order)."""

    live_text: dict[int, str] = field(default_factory=dict)
    live_run: dict[int, str] = field(default_factory=dict)
    live_offset: dict[int, int] = field(default_factory=dict)
    stored: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (status, content) of ended steps
    known: set[int] = field(default_factory=set)
    sent: dict[int, str] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)

    def take_live(self, event: str, data: dict[str, Any], after: int) -> None:
        message_id = data.get("message_id")
        if not isinstance(message_id, int) or message_id <= after:
            return
        self.known.add(message_id)
        run = data.get("run_id")
        if event == ServerEvent.CHAT_START:
            # The first run of a step is followed; a restarted step's text comes from the stored message.
            self.live_run.setdefault(message_id, run)
        elif event == ServerEvent.CHAT_CHUNK and run == self.live_run.get(message_id):
            offset = data.get("offset", 0)
            if offset > self.live_offset.get(message_id, 0):
                self.live_offset[message_id] = offset
                self.live_text[message_id] = self.live_text.get(message_id, "") + str(data.get("content", ""))

    def flush(self, ended: bool = False) -> str:
        """New text, in step order: an unfinished step holds back the ones after it."""
        out = []
        for message_id in sorted(self.known):
            if message_id in self.finished:
                continue
            status, content = self.stored.get(message_id, ("", ""))
            done = status in ("done", "failed", "cancelled") or ended
            text = content if status == "done" else self.live_text.get(message_id, "")
            if done and status != "done":
                text = ""  # a failed or abandoned attempt is not part of the answer
            already = self.sent.get(message_id, "")
            if text.startswith(already) and len(text) > len(already):
                separator = STEP_SEPARATOR if not already and any(self.sent.values()) else ""
                out.append(separator + text[len(already) :])
                self.sent[message_id] = text
            if not done:
                break
            self.finished.add(message_id)
        return "".join(out)

    def answer(self) -> str:
        return STEP_SEPARATOR.join(text for _, text in sorted(self.sent.items()) if text)


def _snapshot(db: Session, task_id: int, after: int) -> tuple[Task | None, list[Message]]:
    task = db.get(Task, task_id)
    if task is None:  # deleted while the call waited (DELETE /tasks/{id})
        return None, []
    rows = db.scalars(select(Message).where(Message.task_id == task_id, Message.id > after).order_by(Message.id))
    return task, list(rows)


async def follow_turn(
    turn: Turn, live: LiveStore | None, disconnected: Callable[[], Awaitable[bool]] | None = None
) -> AsyncIterator[str | TurnResult]:
    """Yields the answer's text as it grows, then one TurnResult when the turn has ended."""
    state = _Follow()
    cursor: str | None = None
    next_db = 0.0
    while True:
        if live is not None:
            entries = await live.read(turn.task.id, cursor)
            for entry_id, event, data in entries:
                cursor = entry_id
                state.take_live(event, data, turn.message_id)
        now = time.monotonic()
        ended = False
        if now >= next_db:
            next_db = now + DB_POLL_SECONDS
            task, rows = await in_session(lambda db: _snapshot(db, turn.task.id, turn.message_id))
            if task is None:
                yield TurnResult(DELETED, "the task was deleted", state.answer(), 0, 0)
                return
            ended = task.turn == turn.task.turn and task.state in ENDED
            for row in rows:
                if row.role == "assistant":
                    state.known.add(row.id)
                    if row.status != "streaming":
                        state.stored[row.id] = (row.status, row.content)
            if ended:
                text = state.flush(ended=True)
                if text:
                    yield text
                yield TurnResult(
                    task.state,
                    task.error,
                    state.answer(),
                    sum(r.input_tokens for r in rows),
                    sum(r.output_tokens for r in rows),
                )
                return
            if disconnected is not None and await disconnected():
                return  # the caller left; the task goes on and stays visible as an ordinary task
        text = state.flush()
        if text:
            yield text
        await asyncio.sleep(LIVE_POLL_SECONDS if live is not None else DB_POLL_SECONDS)


def failure(result: TurnResult, task_id: int) -> ApiError | None:
    if result.state == TaskState.FAILED:
        return ApiError(502, f"task {task_id} failed: {result.error or 'unknown error'}", None, "task_failed")
    if result.state == DELETED:
        return ApiError(409, f"task {task_id} was deleted while it ran", None, "task_deleted")
    if result.state == TaskState.CANCELLED:
        return ApiError(409, f"task {task_id} was cancelled: {result.error or ''}".rstrip(": "), None, "task_cancelled")
    return None
