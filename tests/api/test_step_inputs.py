"""What an agent step reads before its run starts, on the real database: its Model without the key (the sandbox
calls the host's gateway with a key of the step's, and the gateway adds the real one) and its Ghost's tools with
their secrets decrypted, in one query.

This read is the first thing on the way to every stage's first token, so a round trip more is a cost every stage
pays: the rows of the one query must serve the reads that follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event

from activities.agent_step import AgentStepActivities
from core.db.models import Resource
from core.db.session import get_engine, get_sessionmaker
from core.secrets import seal
from wegent.crypto import get_keyring
from workflows.models import AgentStepInput, ExecutorRef


def _resource(owner_id: int, kind: str, name: str, spec: dict[str, Any]) -> int:
    with get_sessionmaker()() as db:
        row = Resource(
            owner_id=owner_id, kind=kind, namespace="default", name=name, spec=seal(kind, spec, None, get_keyring())
        )
        db.add(row)
        db.commit()
        return row.id


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL statements sent while the block runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)


def test_a_steps_model_and_tools_come_from_one_query(make_user) -> None:  # type: ignore[no-untyped-def]
    owner_id, _ = make_user()
    model_id = _resource(
        owner_id,
        "Model",
        "inputs-model",
        {"provider": "openai", "baseUrl": "http://127.0.0.1:9/v1", "model": "m1", "apiKey": "sk-inputs-secret"},
    )
    ghost_id = _resource(
        owner_id,
        "Ghost",
        "inputs-ghost",
        {"systemPrompt": "p", "mcpServers": {"files": {"command": "srv", "env": {"TOKEN": "mcp-inputs-secret"}}}},
    )
    step = AgentStepInput(
        task_id=1,
        workflow_id="task-1",
        turn=1,
        step=1,
        bot="b",
        shell_type="Chat",
        system_prompt="p",
        model_id=model_id,
        ghost_id=ghost_id,
        prompt="hello",
        executor=ExecutorRef(host="h", backend="local", executor_id="e", port=1),
    )
    activities = AgentStepActivities(SimpleNamespace(keyring=get_keyring()))  # type: ignore[arg-type]

    with _statements() as seen, get_sessionmaker()() as db:
        inputs = activities._read_inputs(db, step)

    model, _pricing = inputs.config  # type: ignore[misc]
    assert (model.model, model.base_url, model.api_key) == ("m1", "http://127.0.0.1:9/v1", "")
    assert "sk-inputs-secret" not in repr(inputs.config)  # the worker's step never decrypts the Model's key
    assert inputs.tools["files"]["env"] == {"TOKEN": "mcp-inputs-secret"}
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, reads
