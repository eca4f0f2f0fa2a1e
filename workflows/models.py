"""Dataclasses the workflows exchange with activities. Plain data: no secrets, only references to them."""

from __future__ import annotations

from dataclasses import dataclass, field


def host_queue(host: str) -> str:
    """Container start/stop for one executor host: never waits behind agent runs."""
    return f"wegent-host-{host}"


def agent_queue(host: str) -> str:
    """Agent runs on one executor host: its worker's slots are MAX_CONCURRENT_TASKS."""
    return f"wegent-agent-{host}"


class TaskState:
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"
    CANCELLING = "CANCELLING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})


@dataclass
class TaskInput:
    # 0 when a Temporal Schedule started this run: the workflow then creates its task first.
    task_id: int
    # Seconds an idle executor is kept for follow-ups, and an idle task workflow waits for one.
    executor_idle_seconds: int = 300
    task_idle_seconds: int = 3600
    schedule_id: int | None = None


@dataclass
class ScheduledRun:
    schedule_id: int
    workflow_id: str
    scheduled_time: str | None  # ISO 8601 from TemporalScheduledStartTime; None when triggered by hand


@dataclass
class StepPlan:
    index: int
    bot: str
    role: str
    shell_type: str
    system_prompt: str
    model_id: int  # resource row of the Model; the activity decrypts its key at use
    context_passing: str = "previous"
    require_confirmation: bool = False
    image: str | None = None
    cpu: float | None = None
    memory: str | None = None
    pids: int | None = None
    network: bool = True


@dataclass
class HistoryItem:
    role: str
    content: str


@dataclass
class TaskPlan:
    task_id: int
    owner: str
    team: str
    collaboration_model: str
    prompt: str
    steps: list[StepPlan]
    turn: int = 1
    history: list[HistoryItem] = field(default_factory=list)
    workspace_id: int | None = None


@dataclass
class ExecutorRef:
    host: str
    backend: str
    executor_id: str
    port: int


@dataclass
class StartExecutorInput:
    task_id: int
    workflow_id: str
    image: str | None = None
    cpu: float | None = None
    memory: str | None = None
    pids: int | None = None
    network: bool = True


@dataclass
class AgentStepInput:
    task_id: int
    workflow_id: str
    turn: int
    step: int
    bot: str
    shell_type: str
    system_prompt: str
    model_id: int
    prompt: str
    executor: ExecutorRef
    history: list[HistoryItem] = field(default_factory=list)
    session_id: str | None = None
    attempt: int = 1  # bumped only by a user's retry; activity retries re-attach to the same run


@dataclass
class StepResult:
    output: str
    input_tokens: int = 0
    output_tokens: int = 0
    session_id: str | None = None
    message_id: int | None = None


@dataclass
class StateUpdate:
    task_id: int
    state: str
    turn: int | None = None
    error: str | None = None
    current_step: int | None = None
    current_bot: str | None = None


@dataclass
class FollowUp:
    turn: int
    content: str
