"""Dataclasses the workflows exchange with activities. Plain data: no secrets, only references to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wegent.limits import SandboxLimits, legacy_limits


def host_queue(host: str) -> str:
    """Container start/stop for one executor host: never waits behind agent runs."""
    return f"wegent-host-{host}"


def agent_queue(host: str) -> str:
    """Agent runs on one executor host: its worker's slots are MAX_CONCURRENT_TASKS."""
    return f"wegent-agent-{host}"


@dataclass(kw_only=True)
class _CarriesLimits:
    """Sandbox limits, nested; plus, read-only, the flat fields plans and start requests carried before
    SandboxLimits (wegent.limits.legacy_limits), folded into ``limits`` when an older worker wrote them."""

    limits: SandboxLimits = field(default_factory=SandboxLimits)
    cpu: float | None = None
    memory: str | None = None
    pids: int | None = None
    network: bool | None = None

    def __post_init__(self) -> None:
        folded = legacy_limits(self.cpu, self.memory, self.pids, self.network)
        if folded is not None:
            self.limits = folded
            self.cpu = self.memory = self.pids = self.network = None


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
class ScheduledRun:
    schedule_id: int
    workflow_id: str
    scheduled_time: str | None  # ISO 8601 from TemporalScheduledStartTime; None when triggered by hand


@dataclass
class StepPlan(_CarriesLimits):
    index: int
    bot: str
    role: str
    shell_type: str
    system_prompt: str
    model_id: int  # resource row of the Model; the activity decrypts its key at use
    context_passing: str = "previous"
    require_confirmation: bool = False
    # The member's Shell's sandbox: its image (None: the default) and what the Shell asked for.
    image: str | None = None  # limits: see _CarriesLimits
    # The Ghost's resource row: its MCP servers (whose env and headers are secrets) are read and decrypted
    # by the step's activity at use, never carried in the plan.
    ghost_id: int | None = None


@dataclass
class HistoryItem:
    role: str
    content: str


@dataclass
class CompletedStep:
    step: int
    output: str
    message_id: int


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
    default_member: str | None = None
    max_rounds: int = 3
    fail_on_subtask_error: bool = False
    approval_timeout_seconds: int | None = None
    approval_timeout_outcome: str = "reject"
    # Only for a retry: this turn's steps that already succeeded, and the last attempt number of each step.
    completed: list[CompletedStep] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    # Each bot's runtime session from earlier turns (Claude Code, Agno, Dify resume them on follow-ups).
    sessions: dict[str, str] = field(default_factory=dict)


@dataclass
class ExecutorRef:
    host: str
    backend: str
    executor_id: str
    port: int
    # Which of the task's sandboxes (workflows.sandboxes): its slot ("" for the first) and its policy.
    sandbox: str = ""
    policy: str = ""


@dataclass
class WarmTake:
    """The worker running a workflow task: its host, and a warm sandbox of that host bound to the task (None: the
    pool had none to give, and one is started there as usual)."""

    host: str
    executor: ExecutorRef | None = None


@dataclass
class TaskInput:
    # 0 when a Temporal Schedule started this run: the workflow then creates its task first.
    task_id: int
    # Seconds an idle executor is kept for follow-ups, and an idle task workflow waits for one.
    executor_idle_seconds: int = 300
    task_idle_seconds: int = 3600
    schedule_id: int | None = None
    # Continue-as-new carries these: the warm sandboxes and "the current turn is done, wait for the next".
    executors: list[ExecutorRef] = field(default_factory=list)
    executor: ExecutorRef | None = None  # the one sandbox carried by runs from before per-policy sandboxes
    resume_idle: bool = False
    turn: int = 0  # with resume_idle: the turn that is already answered
    # Continue-as-new once the history has this many events (Temporal's own suggestion also counts).
    max_history_events: int = 10_000
    # A worker that dies mid-step is noticed after this long without heartbeats; the step then re-attaches.
    agent_heartbeat_seconds: int = 20
    # Retry of a FAILED task: reuse the turn's completed steps, run the failed one again (optionally on
    # another Model).
    retry: bool = False
    model_override_id: int | None = None
    # The API already claimed the owner's running slot for the first turn (in the transaction that created the
    # task): the workflow does not claim it again.
    slot_claimed: bool = False


@dataclass
class StartExecutorInput(_CarriesLimits):
    task_id: int
    workflow_id: str
    image: str | None = None  # limits: see _CarriesLimits
    sandbox: str = ""  # the slot among the task's sandboxes (workflows.sandboxes); "" for the first


@dataclass
class WorkspaceInput:
    """Clone a task's Workspace into its executor (activity ``prepare_workspace``, on the executor's host)."""

    task_id: int
    workflow_id: str
    workspace_id: int  # the Workspace resource row; the activity decrypts its token at use
    executor: ExecutorRef


@dataclass
class WorkspaceResult:
    workspace_id: int
    git_url: str | None = None  # without credentials
    branch: str | None = None
    head: str | None = None


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
    workspace: bool = False  # the task has a cloned repository: attach its git summary to the message
    ghost_id: int | None = None  # see StepPlan.ghost_id
    # The workflow moves the step if its host's worker stops mid-run (HostStopping) and does not come back.
    handover: bool = False


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
class SlotRequest:
    """Before a turn's agent work: may this task run now under its owner's limit of running tasks?"""

    task_id: int
    turn: int


@dataclass
class SlotClaim:
    claimed: bool
    reason: str = ""  # why it waits, shown on the task


@dataclass
class FollowUp:
    turn: int
    content: str
    slot_claimed: bool = False  # as TaskInput.slot_claimed, for this turn


@dataclass
class PlanRequest:
    task_id: int
    # After continue-as-new, turns up to this one are answered: all of them belong to the history.
    history_through_turn: int | None = None
    retry: bool = False
    model_override_id: int | None = None


@dataclass
class PlannedTake:
    """The answer of ``resolve_plan_and_take``: the plan, and the warm sandbox taken beside it for the task's first
    sandbox (None: none was taken, and the first step gets one as usual)."""

    plan: TaskPlan
    take: WarmTake | None = None


@dataclass
class Note:
    """A message the workflow itself records: a routing decision, a plan, a notice."""

    task_id: int
    turn: int
    step: int
    bot: str | None
    content: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Approval:
    handoff: str | None = None  # an edited hand-off text that becomes the next stage's input


@dataclass
class Rejection:
    reason: str = "rejected by the user"
