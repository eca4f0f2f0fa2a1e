"""The gateway's database side: who may call which Model now, and where each call's tokens are written.

A key is honoured only while its task is not over; the Model is read (and its key decrypted) per call, so a
rotated key or a re-pointed baseUrl takes effect at once and the egress policy is checked at use. Usage goes
onto the step's own assistant message and the task's totals, in one transaction per model call: the gateway is
the only writer of token counts, so nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from activities.tokens import GatewayScope, gateway_key_valid, parse_gateway_key
from core import quotas
from core.db.deadlocks import retrying_deadlocks
from core.db.models import Message, Resource, Task, User, utcnow
from core.tasks.records import InvalidModel, cost_of, model_config
from wegent.crypto import Keyring
from wegent.executor_api import ModelConfig
from workflows.models import TaskState


class Refusal(Exception):
    """A call the gateway does not forward: ``status`` and ``kind`` for the error body, message for people."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass
class Grant:
    scope: GatewayScope
    owner_id: int
    model: ModelConfig  # with the real key: stays in the gateway
    pricing: dict[str, Any]
    tokens_left: int | None  # None: no token budget
    cost_left: float | None

    @property
    def label(self) -> str:
        return self.model.model or self.model.provider

    def over_budget(self, tokens: int, input_tokens: int, output_tokens: int) -> bool:
        if self.tokens_left is not None and tokens > self.tokens_left:
            return True
        return self.cost_left is not None and cost_of(self.pricing, input_tokens, output_tokens) > self.cost_left


UNKNOWN = "missing or invalid gateway key"


def resolve(db: Session, key: str, keyring: Keyring) -> Grant:
    scope = parse_gateway_key(key) if key else None
    # The task, its owner, the Model and the Model's owner in one query: this runs before every model call, and
    # model_config then finds its rows in the session.
    model_owner = aliased(User)
    found = (
        db.execute(
            select(Task, User, Resource, model_owner)
            .select_from(Task)
            # The Model first: joined by a literal id, it is linked to the task only as the join's right side,
            # which SQLAlchemy's cartesian-product check sees when the left side is a table, not a join.
            .outerjoin(Resource, Resource.id == scope.model_id)
            .outerjoin(User, User.id == Task.owner_id)
            .outerjoin(model_owner, model_owner.id == Resource.owner_id)
            .where(Task.id == scope.task_id)
        ).first()
        if scope
        else None
    )
    task, owner = (found[0], found[1]) if found is not None else (None, None)
    if scope is None or task is None or not task.workflow_id or not gateway_key_valid(key, task.workflow_id, scope):
        raise Refusal(401, "authentication_error", UNKNOWN)
    if task.state in TaskState.TERMINAL:
        raise Refusal(403, "task_finished", f"task {task.id} is {task.state}: its model access has ended")
    try:
        model, pricing = model_config(db, scope.model_id, keyring)
    except InvalidModel as exc:
        raise Refusal(403, "invalid_model", str(exc)) from exc
    if owner is None:
        raise Refusal(403, "task_finished", f"task {task.id} has no owner any more")
    budget = quotas.limited_budget(db, owner)
    over = budget.exceeded() if budget is not None else None
    if over:
        raise Refusal(403, "budget_exceeded", over)
    return Grant(
        scope=scope,
        owner_id=owner.id,
        model=model,
        pricing=pricing,
        tokens_left=None if budget is None or budget.tokens_limit is None else budget.tokens_limit - budget.tokens_used,
        cost_left=None if budget is None or budget.cost_limit is None else budget.cost_limit - budget.cost_used,
    )


def budget_message(db: Session, owner_id: int) -> str:
    """Why a stream was stopped: the budget's own words once the call's tokens are recorded."""
    owner = db.get(User, owner_id)
    over = quotas.budget_of(db, owner).exceeded() if owner is not None else None
    return over or "this call would cross your monthly budget"


def record(db: Session, scope: GatewayScope, input_tokens: int, output_tokens: int, cost: float) -> None:
    """Add one call's usage to the step's assistant message (made if the step has not written it yet)."""
    if input_tokens or output_tokens:
        retrying_deadlocks(db, lambda: _add_usage(db, scope, input_tokens, output_tokens, cost))


def _add_usage(db: Session, scope: GatewayScope, input_tokens: int, output_tokens: int, cost: float) -> None:
    key = (
        Message.task_id == scope.task_id,
        Message.turn == scope.turn,
        Message.step == scope.step,
        Message.role == "assistant",
        Message.attempt == scope.attempt,
    )
    added = {
        "input_tokens": Message.input_tokens + input_tokens,
        "output_tokens": Message.output_tokens + output_tokens,
        "cost": Message.cost + cost,
    }
    result = db.execute(update(Message).where(*key).values(**added))
    if not result.rowcount:
        db.add(
            Message(
                task_id=scope.task_id,
                turn=scope.turn,
                step=scope.step,
                attempt=scope.attempt,
                role="assistant",
                content="",
                status="streaming",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost=cost,
            )
        )
    db.execute(
        update(Task)
        .where(Task.id == scope.task_id)
        .values(
            input_tokens=Task.input_tokens + input_tokens,
            output_tokens=Task.output_tokens + output_tokens,
            cost=Task.cost + cost,
            updated_at=utcnow(),
        )
    )
    db.commit()
