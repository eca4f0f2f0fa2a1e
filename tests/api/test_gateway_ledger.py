"""The model gateway's usage ledger on the real database: a call's tokens are never lost to a race with the step.

A step writes its streaming message beside its run's start, so the gateway may find no message yet for a call's
usage and insert one in the same moment the step inserts its own. The database orders the two inserts (the
gateway's look-up locks the gap the message would go into) and the later one becomes an update.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from activities.gateway import ledger
from activities.tokens import GatewayScope
from core.db.models import Message, Task
from core.db.session import get_sessionmaker
from core.tasks.records import StepMessage, save_step_message


def _task(owner_id: int) -> int:
    with get_sessionmaker()() as db:
        task = Task(owner_id=owner_id, team_name="t", prompt="p", state="RUNNING")
        db.add(task)
        db.commit()
        return task.id


def _streaming(task_id: int, step: int) -> StepMessage:
    return StepMessage(
        task_id=task_id,
        turn=1,
        step=step,
        attempt=1,
        bot="b",
        content="",
        input_tokens=None,
        output_tokens=None,
        cost=None,
        status="streaming",
        meta={},
    )


def _race(task_id: int, step: int) -> None:
    """The gateway records a call's usage; right after its look-up found no message, the step inserts its own."""
    sessions = get_sessionmaker()
    step_saved: list[int] = []

    def save_the_step_message() -> None:
        with sessions() as other:
            step_saved.append(save_step_message(other, _streaming(task_id, step)))

    writer = threading.Thread(target=save_the_step_message)
    with sessions() as db:
        execute = db.execute

        def step_inserts_right_after_the_gateway_looked(*args: Any, **kwargs: Any) -> Any:
            result = execute(*args, **kwargs)
            if not writer.is_alive() and not step_saved:
                writer.start()
            return result

        db.execute = step_inserts_right_after_the_gateway_looked  # type: ignore[method-assign]
        ledger.record(db, GatewayScope(task_id=task_id, model_id=1, turn=1, step=step, attempt=1), 120, 30, 0.5)
    writer.join(timeout=60)
    assert step_saved, "the step's message was not written"


def test_usage_recorded_while_the_step_inserts_its_message_lands_on_that_message(client, make_user) -> None:
    owner_id, _ = make_user()
    task_id = _task(owner_id)
    steps = range(8)  # the two writers deadlock in some of these races: neither write may be lost to it
    for step in steps:
        _race(task_id, step)

    with get_sessionmaker()() as db:
        rows = db.scalars(select(Message).where(Message.task_id == task_id).order_by(Message.step)).all()
        assert [(m.step, m.role, m.status, m.input_tokens, m.output_tokens) for m in rows] == [
            (step, "assistant", "streaming", 120, 30) for step in steps
        ]
        task = db.get(Task, task_id)
        assert (task.input_tokens, task.output_tokens, task.cost) == (120 * 8, 30 * 8, 0.5 * 8)
