"""Durable task bookkeeping in the database: states (terminal ones never overwritten), messages, usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db.deadlocks import retrying_deadlocks
from core.db.models import Message, Resource, Task, User, utcnow
from core.secrets import reveal, without_secrets
from wegent.config import get_settings
from wegent.crypto import Keyring
from wegent.egress import refusal
from wegent.executor_api import ModelConfig
from workflows.models import TaskState


class InvalidModel(Exception):
    pass


def set_state(
    db: Session,
    task_id: int,
    state: str,
    error: str | None = None,
    current_step: int | None = None,
    current_bot: str | None = None,
    turn: int | None = None,
) -> int | None:
    """Move a task to `state` unless it already reached a terminal one. Returns the owner's id if it changed."""
    values: dict[str, Any] = {"state": state, "updated_at": utcnow()}
    if error is not None:
        values["error"] = error
    if current_step is not None:
        values["current_step"] = current_step
        values["current_bot"] = current_bot
    if state in TaskState.TERMINAL:
        values["finished_at"] = utcnow()
    result = db.execute(update(Task).where(Task.id == task_id, Task.state.not_in(TaskState.TERMINAL)).values(**values))
    db.commit()
    if not result.rowcount:
        return None
    # The owner's id, not a flag: callers publish to the owner's room `user:{id}` with it.
    return db.scalar(select(Task.owner_id).where(Task.id == task_id))


def model_config(
    db: Session, model_id: int, keyring: Keyring, with_key: bool = True
) -> tuple[ModelConfig, dict[str, Any]]:
    """The Model, its key decrypted for the gateway's call only; plus its pricing.

    Without `with_key` the key is left out, not decrypted: an agent step hands the sandbox this host's gateway
    and a key of its own, so the worker running it never needs (or holds) the real one.
    """
    row = db.get(Resource, model_id)
    if row is None or row.kind != "Model":
        raise InvalidModel(f"model {model_id} was deleted while the task was running")
    spec = reveal("Model", row.spec, keyring) if with_key else without_secrets("Model", row.spec)
    owner = db.get(User, row.owner_id)
    if owner is None or owner.role not in ("admin", "system"):
        # Checked again at use: the name may resolve elsewhere now than when the Model was written.
        reason = refusal(spec["baseUrl"], get_settings().egress_allow)
        if reason:
            raise InvalidModel(f"model '{row.name}' baseUrl {reason}")
    config = ModelConfig(
        provider=spec.get("provider", "openai"),
        base_url=spec["baseUrl"],
        model=spec.get("model", ""),
        api_key=spec.get("apiKey") or "",
        temperature=spec.get("temperature"),
        max_tokens=spec.get("maxTokens"),
        extra={"appMode": spec["appMode"]} if spec.get("appMode") else {},
    )
    return config, spec.get("pricing") or {}


def ghost_tools(db: Session, ghost_id: int | None, keyring: Keyring) -> dict[str, Any]:
    """The Ghost's MCP servers with their env and header secrets decrypted, for the executor call only."""
    if ghost_id is None:
        return {}
    row = db.get(Resource, ghost_id)
    if row is None or row.kind != "Ghost":
        return {}  # deleted while the task ran: the step goes on with the prompt it was planned with
    return dict(reveal("Ghost", row.spec, keyring).get("mcpServers") or {})


def cost_of(pricing: dict[str, Any], input_tokens: int, output_tokens: int) -> float:
    return (
        input_tokens * float(pricing.get("inputPer1M", 0)) + output_tokens * float(pricing.get("outputPer1M", 0))
    ) / 1e6


@dataclass
class StepMessage:
    task_id: int
    turn: int
    step: int
    attempt: int
    bot: str
    content: str
    # None leaves the stored figures alone: the model gateway is the one writer of usage (it adds each call's).
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    status: str
    meta: dict[str, Any]


def save_step_message(db: Session, msg: StepMessage) -> int:
    """Upsert the assistant message of one step (a retried activity updates, never duplicates)."""
    return retrying_deadlocks(db, lambda: _upsert_step_message(db, msg))


def _upsert_step_message(db: Session, msg: StepMessage) -> int:
    key = (
        Message.task_id == msg.task_id,
        Message.turn == msg.turn,
        Message.step == msg.step,
        Message.role == "assistant",
        Message.attempt == msg.attempt,
    )
    row = db.scalar(select(Message).where(*key))
    if row is None:
        row = Message(task_id=msg.task_id, turn=msg.turn, step=msg.step, attempt=msg.attempt, role="assistant")
        db.add(row)
    row.bot = msg.bot
    row.content = msg.content
    if msg.input_tokens is not None:
        row.input_tokens = msg.input_tokens
    if msg.output_tokens is not None:
        row.output_tokens = msg.output_tokens
    if msg.cost is not None:
        row.cost = msg.cost
    row.status = msg.status
    row.meta = msg.meta
    row.finished_at = utcnow()
    try:
        db.flush()
    except IntegrityError:
        db.rollback()  # a concurrent writer inserted it: update that one instead
        return _upsert_step_message(db, msg)
    if msg.input_tokens is not None or msg.output_tokens is not None or msg.cost is not None:
        # Figures written here (not by the gateway, which adds each call's usage to the task as it records it).
        _refresh_totals(db, msg.task_id)
    db.commit()
    return row.id


def step_usage(db: Session, message_id: int) -> tuple[int, int, float]:
    """(input tokens, output tokens, cost) the model gateway recorded for one step's message."""
    row = db.get(Message, message_id)
    return (row.input_tokens or 0, row.output_tokens or 0, row.cost or 0.0) if row is not None else (0, 0, 0.0)


def _refresh_totals(db: Session, task_id: int) -> None:
    # Recomputed from the messages, so repeating a persist can never double-count.
    totals = db.execute(
        select(
            func.coalesce(func.sum(Message.input_tokens), 0),
            func.coalesce(func.sum(Message.output_tokens), 0),
            func.coalesce(func.sum(Message.cost), 0.0),
        ).where(Message.task_id == task_id)
    ).one()
    db.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(input_tokens=totals[0], output_tokens=totals[1], cost=float(totals[2]))
    )


def save_note(
    db: Session, task_id: int, turn: int, step: int, bot: str | None, content: str, meta: dict[str, Any]
) -> int:
    """A message the workflow records itself (routing decision, plan, notice); idempotent per step."""
    row = db.scalar(
        select(Message).where(
            Message.task_id == task_id,
            Message.turn == turn,
            Message.step == step,
            Message.role == "system",
            Message.attempt == 1,
        )
    )
    if row is None:
        row = Message(task_id=task_id, turn=turn, step=step, attempt=1, role="system")
        db.add(row)
    row.bot, row.content, row.meta, row.status, row.finished_at = bot, content, meta, "done", utcnow()
    db.commit()
    return row.id
