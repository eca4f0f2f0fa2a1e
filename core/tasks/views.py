"""How a task, its messages and its steps are shown (REST, Socket.IO and the CLI share these views)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Message, Task
from wegent.temporal.client import console_url, workflow_id_for
from wegent.timestamps import iso_utc


def task_summary(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "state": task.state,
        "team": {"name": task.team_name, "namespace": task.team_namespace},
        "collaborationModel": task.collaboration_model,
        "turn": task.turn,
        "currentStep": task.current_step,
        "currentBot": task.current_bot,
        "error": task.error,
        "usage": {"inputTokens": task.input_tokens, "outputTokens": task.output_tokens, "cost": task.cost},
        "labels": task.labels,
        "scheduleId": task.schedule_id,
        "workflowId": task.workflow_id,
        "consoleUrl": console_url(task.workflow_id or workflow_id_for(task.id)),
        "createdAt": iso_utc(task.created_at),
        "updatedAt": iso_utc(task.updated_at),
        "finishedAt": iso_utc(task.finished_at),
    }


def message_view(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "turn": m.turn,
        "step": m.step,
        "attempt": m.attempt,
        "role": m.role,
        "bot": m.bot,
        "content": m.content,
        "status": m.status,
        "usage": {"inputTokens": m.input_tokens, "outputTokens": m.output_tokens, "cost": m.cost},
        "meta": m.meta,
        "createdAt": iso_utc(m.created_at),
        "finishedAt": iso_utc(m.finished_at),
    }


def task_detail(db: Session, task: Task) -> dict[str, Any]:
    messages = list(db.scalars(select(Message).where(Message.task_id == task.id).order_by(Message.id)))
    return {
        **task_summary(task),
        "prompt": task.prompt,
        "messages": [message_view(m) for m in messages],
        "steps": [step_view(m) for m in messages if m.role != "user"],
    }


def step_view(m: Message) -> dict[str, Any]:
    """The plan as it ran: one entry per step of each turn, with state, bot, timings and usage."""
    return {
        "turn": m.turn,
        "step": m.step,
        "attempt": m.attempt,
        "bot": m.bot,
        "kind": (m.meta or {}).get("kind", "answer"),
        "state": m.status,
        "startedAt": iso_utc(m.created_at),
        "finishedAt": iso_utc(m.finished_at),
        "usage": {"inputTokens": m.input_tokens, "outputTokens": m.output_tokens, "cost": m.cost},
        "messageId": m.id,
    }
