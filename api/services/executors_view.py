"""What operators see of the worker hosts: slots, live sandboxes, and the queue (GET /admin/executors).

Read from what the hosts record: each worker announces itself (capacity, backend) every minute; every sandbox
holds a port lease on its host, named by its task's workflow; a RUNNING task runs its step on that host. Warm
sandboxes (started ahead of tasks) hold leases named by their pool, and are counted per host.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import ExecutorHost, PortLease, Task, User, utcnow
from workflows.models import TaskState

#: A host that has not announced itself for this long is shown offline (workers announce every minute).
ONLINE_WITHIN = timedelta(minutes=3)
_TASK_WORKFLOW = re.compile(r"^task-(\d+)$")
#: Port leases of a worker's warm pool (activities/executors/pool.py): `pool:<owner>:<sandbox>`.
WARM_LEASE_PREFIX = "pool:"


def _seconds(since: datetime | None, now: datetime) -> float | None:
    return round((now - since).total_seconds(), 1) if since is not None else None


def executors_overview(db: Session) -> dict[str, Any]:
    now = utcnow()
    leases = db.execute(select(PortLease).order_by(PortLease.host, PortLease.leased_at)).scalars().all()
    workflow_ids = [lease.workflow_id for lease in leases]
    ids_by_name = {int(m.group(1)) for w in workflow_ids if (m := _TASK_WORKFLOW.match(w))}
    rows = (
        db.execute(
            select(Task.id, Task.workflow_id, Task.state, User.username)
            .join(User, User.id == Task.owner_id)
            .where((Task.workflow_id.in_(workflow_ids)) | (Task.id.in_(ids_by_name)))
        ).all()
        if workflow_ids
        else []
    )
    by_workflow = {}
    for task_id, workflow_id, state, owner in rows:
        entry = {"taskId": task_id, "state": state, "owner": owner}
        by_workflow[workflow_id or f"task-{task_id}"] = entry
        by_workflow.setdefault(f"task-{task_id}", entry)

    hosts: dict[str, dict[str, Any]] = {}
    for host in db.execute(select(ExecutorHost).order_by(ExecutorHost.host)).scalars():
        hosts[host.host] = {
            "host": host.host,
            "backend": host.backend or None,
            "online": now - host.last_seen < ONLINE_WITHIN,
            "lastSeen": host.last_seen.isoformat() + "Z",
            "capacity": host.capacity,
            "slotsInUse": 0,
            "warmSandboxes": 0,
            "sandboxes": [],
        }
    for lease in leases:
        host = hosts.setdefault(
            lease.host,
            {
                "host": lease.host,
                "backend": None,
                "online": False,
                "lastSeen": None,
                "capacity": 0,
                "slotsInUse": 0,
                "warmSandboxes": 0,
                "sandboxes": [],
            },
        )
        if lease.workflow_id.startswith(WARM_LEASE_PREFIX):  # started ahead of tasks, serving none yet
            host["warmSandboxes"] += 1
            continue
        task = by_workflow.get(lease.workflow_id, {})
        host["sandboxes"].append(
            {
                "workflowId": lease.workflow_id,
                "port": lease.port,
                "taskId": task.get("taskId"),
                "owner": task.get("owner"),
                "state": task.get("state"),
                "ageSeconds": _seconds(lease.leased_at, now),
            }
        )
        if task.get("state") == TaskState.RUNNING:
            host["slotsInUse"] += 1

    queued = db.execute(
        select(Task.id, Task.team_name, Task.team_namespace, Task.created_at, User.username)
        .join(User, User.id == Task.owner_id)
        .where(Task.state == TaskState.PENDING)
        .order_by(Task.created_at, Task.id)
    ).all()
    return {
        "hosts": list(hosts.values()),
        "queued": [
            {
                "position": position,
                "taskId": task_id,
                "owner": owner,
                "team": f"{namespace}/{team}",
                "waitingSeconds": _seconds(created, now),
            }
            for position, (task_id, team, namespace, created, owner) in enumerate(queued, start=1)
        ],
    }
