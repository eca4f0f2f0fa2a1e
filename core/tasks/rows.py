"""Task rows: create one (with its first message, audited), find one the user may see, list a user's tasks."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit
from core.db.models import Message, Task, User
from core.resource_store import ResourceStore, StoreError
from wegent.crypto import get_keyring
from wegent.resources import FieldError
from wegent.temporal.client import workflow_id_for
from workflows.models import TaskState


def create_task_row(
    db: Session,
    user: User,
    team_name: str,
    team_namespace: str,
    prompt: str,
    title: str | None,
    workspace: tuple[str, str] | None = None,
    labels: dict[str, str] | None = None,
    schedule_id: int | None = None,
) -> tuple[Task, Message]:
    store = ResourceStore(db, user, get_keyring())
    team = store.resolve("Team", team_namespace, team_name)
    if team is None:
        raise StoreError(
            422,
            "unknown team",
            [FieldError(field="team.name", message=f"Team '{team_namespace}/{team_name}' does not exist")],
        )
    if workspace is not None and store.resolve("Workspace", workspace[0], workspace[1]) is None:
        raise StoreError(
            422,
            "unknown workspace",
            [FieldError(field="workspace.name", message=f"Workspace '{workspace[0]}/{workspace[1]}' does not exist")],
        )
    task = Task(
        owner_id=user.id,
        team_name=team_name,
        team_namespace=team_namespace,
        workspace_namespace=workspace[0] if workspace else None,
        workspace_name=workspace[1] if workspace else None,
        collaboration_model=team.spec.get("collaborationModel", "pipeline"),
        title=(title or prompt.strip().splitlines()[0])[:255],
        prompt=prompt,
        state=TaskState.PENDING,
        labels=labels or {},
        schedule_id=schedule_id,
    )
    db.add(task)
    db.flush()
    task.workflow_id = workflow_id_for(task.id)
    message = Message(task_id=task.id, turn=1, step=0, role="user", content=prompt, status="done")
    db.add(message)
    detail = {"team": f"{team_namespace}/{team_name}", **({"scheduleId": schedule_id} if schedule_id else {})}
    audit.record(db, user, "task.create", f"task/{task.id}", detail)
    db.commit()
    return task, message


def scoped_task(db: Session, user: User, task_id: int) -> Task:
    task = db.get(Task, task_id)
    if task is None or (task.owner_id != user.id and not user.is_admin):
        raise StoreError(404, f"task {task_id} not found")
    return task


def list_tasks(
    db: Session, user: User, state: str | None, team: str | None, limit: int, offset: int
) -> tuple[list[Task], int]:
    query = select(Task)
    if not user.is_admin:
        query = query.where(Task.owner_id == user.id)
    if state:
        query = query.where(Task.state == state.upper())
    if team:
        namespace, _, name = team.rpartition("/")
        query = query.where(Task.team_name == name)
        if namespace:
            query = query.where(Task.team_namespace == namespace)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(Task.id.desc()).limit(limit).offset(offset))
    return list(rows), total
