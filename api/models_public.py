"""Response models of the REST API: what `/docs`, the OpenAPI spec and the web app's generated client see.

The services still build plain dicts (cheap on the read path); the routers declare these models as their
`response_model`, so FastAPI validates and documents every field. Field names are the wire names (camelCase).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RefPublic(BaseModel):
    name: str
    namespace: str


class UsagePublic(BaseModel):
    """Tokens and cost of a task, a message or a step."""

    inputTokens: int
    outputTokens: int
    cost: float


class TaskPublic(BaseModel):
    id: int
    title: str
    state: str = Field(description="PENDING, RUNNING, PENDING_CONFIRMATION, COMPLETED, FAILED or CANCELLED")
    team: RefPublic
    collaborationModel: str
    turn: int
    currentStep: int | None
    currentBot: str | None
    error: str | None
    usage: UsagePublic
    labels: dict[str, str]
    scheduleId: int | None
    workflowId: str | None
    consoleUrl: str = Field(description="the task's workflow in the Temporal console")
    createdAt: str | None
    updatedAt: str | None
    finishedAt: str | None
    queuePosition: int | None = Field(
        None,
        description="a PENDING task's place in the queue (1 = next; counts the PENDING tasks of all users "
        "created before it, the order GET /admin/executors lists); null otherwise and where not computed",
    )


class FollowUpPublic(TaskPublic):
    messageId: int = Field(description="the stored user message of the new turn")


class MessagePublic(BaseModel):
    id: int
    turn: int
    step: int
    attempt: int
    role: str = Field(description="user, assistant or system (workflow notes)")
    bot: str | None
    content: str
    status: str = Field(description="streaming, done, error or cancelled")
    usage: UsagePublic
    meta: dict[str, Any] | None
    createdAt: str | None
    finishedAt: str | None


class StepPublic(BaseModel):
    turn: int
    step: int
    attempt: int
    bot: str | None
    kind: str
    state: str
    startedAt: str | None
    finishedAt: str | None
    usage: UsagePublic
    messageId: int


class TaskDetailPublic(TaskPublic):
    prompt: str
    messages: list[MessagePublic]
    steps: list[StepPublic]


class TaskListPublic(BaseModel):
    items: list[TaskPublic]
    total: int
    limit: int
    offset: int


class TeamUsagePublic(BaseModel):
    team: RefPublic
    tasks: int
    inputTokens: int
    outputTokens: int
    cost: float


class UsageReportPublic(BaseModel):
    """A user's tokens and cost, in all and per team."""

    user: str
    tasks: int
    inputTokens: int
    outputTokens: int
    cost: float
    byTeam: list[TeamUsagePublic]


class ApiKeyPublic(BaseModel):
    """A personal API key as listed: never the key itself, only its first characters."""

    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    userId: int
    username: str
    createdAt: str
    expiresAt: str | None
    lastUsedAt: str | None = Field(description="the last use, to the minute")
    revokedAt: str | None
    active: bool = Field(description="neither revoked nor expired")


class ApiKeyCreatedPublic(ApiKeyPublic):
    key: str = Field(description="the key (wg-...): shown only in this response; store it now")


class ScheduleRunCountsPublic(BaseModel):
    total: int
    succeeded: int
    failed: int
    cancelled: int
    active: int


class SchedulePublic(BaseModel):
    """A Schedule resource with its Temporal Schedule's state. Actions add a field or two (`triggered`,
    `warning`, `backfill`), hence extra fields are allowed."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    namespace: str
    displayName: str | None
    owner: str
    team: dict[str, Any] = Field(description="spec.teamRef")
    workspace: dict[str, Any] | None = Field(description="spec.workspaceRef")
    enabled: bool
    trigger: dict[str, Any] = Field(description="{cron} or {interval}")
    timezone: str
    overlap: str
    temporalScheduleId: str
    consoleUrl: str
    resourceVersion: str
    spec: dict[str, Any]
    status: dict[str, Any] = Field(
        description="state, paused, nextRunTimes, runs (counts), lastRun, temporal (actions, skips), sync details"
    )


class ScheduleListPublic(BaseModel):
    items: list[SchedulePublic]
    total: int
    limit: int
    offset: int


class ScheduleRunPublic(TaskPublic):
    scheduledTime: str | None = Field(description="the time the run was scheduled for")


class ScheduleRunsPublic(BaseModel):
    schedule: dict[str, Any] = Field(description="id, name, namespace, consoleUrl")
    items: list[ScheduleRunPublic]
    total: int
    limit: int
    offset: int
    runs: ScheduleRunCountsPublic
    lastRun: dict[str, Any] | None


class ResourceMetadataPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    namespace: str
    displayName: str | None = None
    labels: dict[str, str] | None = None
    resourceVersion: str = Field(description="send it back on PUT to refuse a lost update (409 when stale)")
    creationTimestamp: str | None
    updatedTimestamp: str | None
    public: bool = Field(description="owned by the system account: readable by everyone")


class ResourcePublic(BaseModel):
    """A resource document as stored (secret fields masked as `***`)."""

    apiVersion: str
    kind: str
    metadata: ResourceMetadataPublic
    spec: dict[str, Any]
    status: dict[str, Any]


class ResourceListPublic(BaseModel):
    kind: str = Field(description="`{Kind}List`")
    items: list[ResourcePublic]


class ResourceIdentityPublic(BaseModel):
    kind: str
    namespace: str
    name: str


class ResourceDeletedPublic(BaseModel):
    deleted: ResourceIdentityPublic
    temporal: dict[str, Any] | None = Field(None, description="a Schedule's removal from Temporal")


class ScheduleDeletedPublic(BaseModel):
    deleted: ResourceIdentityPublic
    temporal: dict[str, Any] = Field(description="the schedule's removal from Temporal")


class ReconcileReportPublic(BaseModel):
    checked: int
    created: int
    updated: int
    orphansDeleted: int
    failed: dict[str, str] = Field(description="schedule id → why it could not be converged")


class HealthPublic(BaseModel):
    status: str


class ReadinessPublic(BaseModel):
    """`ok` per dependency, or why it is not (`unreachable`, `timeout`, an error type); 503 unless all are ok."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="`ok` or `unavailable`")
    database: str
    temporal: str
    redis: str | None = Field(None, description="only when Redis is configured")
