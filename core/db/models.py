"""Typed SQLAlchemy 2 models: the durable record of users, resources, tasks and messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# MySQL TEXT stops at 64 KiB; agent answers and specs can be larger.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Json = JSON().with_variant(mysql.JSON(), "mysql")
BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")  # admin | user | system
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Bumped in the same transaction as every change to a resource this account owns (core.db.generations),
    # so "has anything of this owner changed?" is one primary-key read.
    resource_generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Every token carries the version it was issued under; bumping it (disable, password change) revokes them all.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Admin-set monthly budgets; NULL means the deployment's default (WEGENT_DEFAULT_MONTHLY_*).
    monthly_token_budget: Mapped[int | None] = mapped_column(BigInteger)
    monthly_cost_budget: Mapped[float | None] = mapped_column()
    max_running_tasks: Mapped[int | None] = mapped_column(Integer)  # NULL: WEGENT_DEFAULT_MAX_RUNNING_TASKS

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Resource(Base):
    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("owner_id", "kind", "namespace", "name", name="uq_resource_identity"),
        Index("ix_resources_kind_ns", "kind", "namespace"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(63))
    display_name: Mapped[str | None] = mapped_column(String(200))
    labels: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)  # secret fields hold ciphertext
    status: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    resource_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # Loaded on access only: reads of resources never need the owner's row.
    owner: Mapped[User] = relationship()

    # Optimistic locking: every UPDATE carries "WHERE resource_version = <read value>".
    __mapper_args__ = {"version_id_col": resource_version}


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_owner_state", "owner_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    namespace: Mapped[str] = mapped_column(String(63), default="default")
    team_name: Mapped[str] = mapped_column(String(63))
    team_namespace: Mapped[str] = mapped_column(String(63), default="default")
    workspace_name: Mapped[str | None] = mapped_column(String(63))
    workspace_namespace: Mapped[str | None] = mapped_column(String(63))
    collaboration_model: Mapped[str] = mapped_column(String(32), default="solo")
    title: Mapped[str] = mapped_column(String(255), default="")
    prompt: Mapped[str] = mapped_column(LongText)
    state: Mapped[str] = mapped_column(String(32), default="PENDING")
    error: Mapped[str | None] = mapped_column(LongText)
    workflow_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    current_step: Mapped[int | None] = mapped_column(Integer)
    current_bot: Mapped[str | None] = mapped_column(String(63))
    turn: Mapped[int] = mapped_column(Integer, default=1)
    labels: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    schedule_id: Mapped[int | None] = mapped_column(BigId)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    messages: Mapped[list[Message]] = relationship(
        back_populates="task", order_by="Message.id", cascade="all, delete-orphan"
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # One row per (task, turn, step, role): a retried persist activity updates instead of duplicating.
        UniqueConstraint("task_id", "turn", "step", "role", "attempt", name="uq_message_step"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    turn: Mapped[int] = mapped_column(Integer, default=1)
    step: Mapped[int] = mapped_column(Integer, default=0)  # 0 = the user's message
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | system
    bot: Mapped[str | None] = mapped_column(String(63))
    content: Mapped[str] = mapped_column(LongText, default="")
    status: Mapped[str] = mapped_column(String(16), default="done")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(default=0.0)
    meta: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    task: Mapped[Task] = relationship(back_populates="messages")


class PortLease(Base):
    __tablename__ = "port_leases"
    __table_args__ = (UniqueConstraint("host", "port", name="uq_port_lease"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(128))
    port: Mapped[int] = mapped_column(Integer)
    workflow_id: Mapped[str] = mapped_column(String(128), index=True)
    leased_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """One write or sign-in, recorded in the same transaction as the change it describes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_user_id_at", "user_id", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str | None] = mapped_column(String(64))  # the name at the time: kept when the account goes
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ExecutorHost(Base):
    """Worker hosts that run executors, so the periodic reaper can visit each host's own queue."""

    __tablename__ = "executor_hosts"

    host: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    capacity: Mapped[int] = mapped_column(Integer, default=0)  # agent slots (MAX_CONCURRENT_TASKS)
    backend: Mapped[str] = mapped_column(String(16), default="")  # docker | local


class ApiKey(Base):
    """A personal API key (`wg-…`). Only its SHA-256 is stored: the key is 256 random bits, so a fast hash is
    enough (nothing to guess), and it keeps the lookup one indexed read instead of a slow password hash."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, so people can tell keys apart
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
