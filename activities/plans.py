"""Resolve a task's team into an immutable plan: Team -> Bots -> Ghost / Shell / Model (by reference)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.workspace_activities import workspace_id_of
from core.db.models import Message, Task, User
from core.resource_store import ResourceStore
from wegent.crypto import Keyring
from wegent.limits import SandboxLimits
from workflows.models import CompletedStep, HistoryItem, StepPlan, TaskPlan


class InvalidTeam(Exception):
    """The team cannot run as declared; the message says which reference is broken."""


def build_plan(
    db: Session,
    task_id: int,
    keyring: Keyring,
    history_through_turn: int | None = None,
    retry: bool = False,
    model_override_id: int | None = None,
) -> TaskPlan:
    task = db.get(Task, task_id)
    if task is None:
        raise LookupError(f"task {task_id} not found")
    owner = db.get(User, task.owner_id)
    assert owner is not None
    store = ResourceStore(db, owner, keyring)
    team = store.resolve("Team", task.team_namespace, task.team_name)
    if team is None:
        raise InvalidTeam(f"team '{task.team_namespace}/{task.team_name}' no longer exists")
    steps: list[StepPlan] = []
    for index, member in enumerate(team.spec.get("members", [])):
        ref = member["botRef"]
        where = f"team '{team.name}' member {index}"
        bot = store.resolve("Bot", ref.get("namespace", "default"), ref["name"], owner_id=team.owner_id)
        if bot is None:
            raise InvalidTeam(f"{where}: bot '{ref['name']}' does not exist")
        parts = {}
        for key, kind in (("ghostRef", "Ghost"), ("shellRef", "Shell"), ("modelRef", "Model")):
            r = bot.spec[key]
            found = store.resolve(kind, r.get("namespace", "default"), r["name"], owner_id=bot.owner_id)
            if found is None:
                raise InvalidTeam(f"{where}: bot '{bot.name}' refers to missing {kind} '{r['name']}'")
            parts[kind] = found
        ghost, shell, model = parts["Ghost"], parts["Shell"], parts["Model"]
        prompt = ghost.spec["systemPrompt"]
        if member.get("prompt"):
            prompt = f"{prompt}\n\n{member['prompt']}"
        limits = shell.spec.get("resources", {})
        steps.append(
            StepPlan(
                index=index,
                bot=bot.name,
                role=member.get("role", "member"),
                shell_type=shell.spec["shellType"],
                system_prompt=prompt,
                model_id=model.id,
                context_passing=member.get("contextPassing", "previous"),
                require_confirmation=bool(member.get("requireConfirmation", False)),
                image=shell.spec.get("image"),
                limits=SandboxLimits(
                    cpu=limits.get("cpu"),
                    memory=limits.get("memory"),
                    pids=limits.get("pids"),
                    network=limits.get("network", True),
                ),
                ghost_id=ghost.id,
            )
        )
    if not steps:
        raise InvalidTeam(f"team '{team.name}' has no members")
    if model_override_id is not None:
        for step in steps:
            step.model_id = model_override_id
    completed, attempts = previous_attempts(db, task) if retry else ([], {})
    try:
        workspace_id = workspace_id_of(store, task)
    except LookupError as exc:
        raise InvalidTeam(str(exc)) from exc
    prompt, history = conversation(db, task, history_through_turn)
    return TaskPlan(
        task_id=task.id,
        owner=owner.username,
        team=f"{team.namespace}/{team.name}",
        collaboration_model=team.spec.get("collaborationModel", "pipeline"),
        prompt=prompt,
        steps=steps,
        turn=task.turn,
        history=history,
        default_member=_default_member(team.spec.get("defaultMember"), steps),
        max_rounds=int(team.spec.get("maxRounds", 3)),
        fail_on_subtask_error=bool(team.spec.get("failOnSubtaskError", False)),
        approval_timeout_seconds=team.spec.get("approvalTimeoutSeconds"),
        approval_timeout_outcome=team.spec.get("approvalTimeoutOutcome", "reject"),
        completed=completed,
        attempts=attempts,
        sessions=sessions_of(db, task),
        workspace_id=workspace_id,
    )


def sessions_of(db: Session, task: Task) -> dict[str, str]:
    """The latest runtime session id each bot reported in this task's earlier turns."""
    rows = db.scalars(
        select(Message)
        .where(Message.task_id == task.id, Message.role == "assistant", Message.status == "done")
        .order_by(Message.id)
    )
    return {m.bot: m.meta["session_id"] for m in rows if m.bot and (m.meta or {}).get("session_id")}


def previous_attempts(db: Session, task: Task) -> tuple[list[CompletedStep], dict[str, int]]:
    """For a retry: the current turn's steps whose latest attempt succeeded, and each step's last attempt."""
    rows = db.scalars(
        select(Message)
        .where(Message.task_id == task.id, Message.turn == task.turn, Message.role == "assistant")
        .order_by(Message.step, Message.attempt)
    )
    latest: dict[int, Message] = {}
    for row in rows:
        latest[row.step] = row  # ordered by attempt: the last one wins
    completed = [
        CompletedStep(step=step, output=row.content, message_id=row.id)
        for step, row in sorted(latest.items())
        if row.status == "done"
    ]
    return completed, {str(step): row.attempt for step, row in latest.items()}


def _default_member(name: str | None, steps: list[StepPlan]) -> str | None:
    """defaultMember names a bot; accept the bare bot name as written in the Team."""
    if not name:
        return None
    for step in steps:
        if step.bot == name:
            return step.bot
    return None


def conversation(db: Session, task: Task, history_through_turn: int | None = None) -> tuple[str, list[HistoryItem]]:
    """The current turn's prompt and the earlier turns as history (each turn's final answer)."""
    rows = db.scalars(
        select(Message).where(Message.task_id == task.id).order_by(Message.turn, Message.step, Message.attempt)
    )
    prompts: dict[int, str] = {}
    answers: dict[int, str] = {}
    for m in rows:
        if m.role == "user":
            prompts[m.turn] = m.content
        elif m.role == "assistant" and m.status == "done":
            answers[m.turn] = m.content  # ordered by step: the last step's answer wins
    history: list[HistoryItem] = []
    last = task.turn - 1 if history_through_turn is None else history_through_turn
    for turn in range(1, last + 1):
        if turn in prompts:
            history.append(HistoryItem(role="user", content=prompts[turn]))
        if turn in answers:
            history.append(HistoryItem(role="assistant", content=answers[turn]))
    return prompts.get(task.turn, task.prompt), history
