"""Executor port leases: one row per (host, port), so several workers on one host never collide."""

from __future__ import annotations

import socket

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import PortLease


class NoFreePort(Exception):
    pass


def lease_key(workflow_id: str, sandbox: str = "") -> str:
    """The lease of one of a task's sandboxes: the workflow id, with the sandbox slot after `#` for all but
    the first (workflows.sandboxes). Workflow ids never contain `#`."""
    return f"{workflow_id}#{sandbox}" if sandbox else workflow_id


def lease_workflow(key: str) -> str:
    """The workflow that holds a lease (see :func:`lease_key`)."""
    return key.partition("#")[0]


def _bindable(port: int) -> bool:
    """Skip ports something outside Wegent already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def lease_port(sessions: sessionmaker[Session], host: str, workflow_id: str, low: int, high: int) -> int:
    """The workflow's existing lease, or the lowest free port; the unique key arbitrates races."""
    with sessions() as db:
        existing = db.scalar(select(PortLease.port).where(PortLease.host == host, PortLease.workflow_id == workflow_id))
        if existing is not None:
            return existing
        taken = set(db.scalars(select(PortLease.port).where(PortLease.host == host)))
        for port in range(low, high + 1):
            if port in taken or not _bindable(port):
                continue
            db.add(PortLease(host=host, port=port, workflow_id=workflow_id))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()  # another worker took it between our read and insert
                continue
            return port
    raise NoFreePort(f"no free executor port in {low}-{high} on host {host}")


def release_ports(sessions: sessionmaker[Session], host: str, workflow_id: str) -> int:
    with sessions() as db:
        result = db.execute(delete(PortLease).where(PortLease.host == host, PortLease.workflow_id == workflow_id))
        db.commit()
        return result.rowcount or 0


def transfer_lease(sessions: sessionmaker[Session], host: str, from_workflow: str, to_workflow: str) -> int:
    """Hand a warm sandbox's port to the task workflow that takes the sandbox (0: there was no such lease)."""
    with sessions() as db:
        result = db.execute(
            update(PortLease)
            .where(PortLease.host == host, PortLease.workflow_id == from_workflow)
            .values(workflow_id=to_workflow)
        )
        db.commit()
        return result.rowcount or 0


def leases_on(sessions: sessionmaker[Session], host: str) -> list[tuple[int, str]]:
    with sessions() as db:
        return [(p.port, p.workflow_id) for p in db.scalars(select(PortLease).where(PortLease.host == host))]
