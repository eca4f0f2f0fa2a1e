"""run_agent_step: run one bot's turn on the task's executor, relay its events, persist its answer.

Re-attach instead of re-run: the executor run id is fixed per (workflow, turn, step, attempt) and the last
relayed sequence number is heartbeated, so a retried activity (worker crash, network blip) continues the
same run from where the previous attempt stopped and the model is not called twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext
from activities.live_message import LiveMessage
from activities.tokens import GatewayScope, executor_token, gateway_key
from activities.workspace_activities import workspace_summary
from core import quotas
from core.db.models import Resource, User
from core.tasks.records import (
    InvalidModel,
    StepMessage,
    ghost_tools,
    model_config,
    save_step_message,
    set_state,
    step_usage,
)
from executor.client import ExecutorClient, ExecutorError, RunNotFound
from wegent import metrics
from wegent.config import get_settings
from wegent.events import EventType
from wegent.executor_api import HistoryMessage, ModelConfig, RunRequest, RunState
from wegent.logging import get_logger
from wegent.realtime_payloads import ChatCancelled, ChatDone, ChatError, ChatStart, TaskStatus, Usage
from workflows import activity_names
from workflows.models import AgentStepInput, StepResult, TaskState

log = get_logger("activities.agent")
# Fire-and-forget tasks (a status publish, a gateway prefetch), held until done: the loop keeps only weak references.
_BACKGROUND: set[asyncio.Task[None]] = set()
# A cancel (the user's Stop) reaches a running step only with a heartbeat's answer: at least one a second keeps
# Stop within about a second of the agent (every 2 s left it up to 3 s behind under load, past a short answer).
MAX_HEARTBEAT_INTERVAL = 1.0


@dataclass
class RunInputs:
    """What a step reads before it can start its run (AgentStepActivities._read_inputs)."""

    config: Any  # (ModelConfig, pricing) or InvalidModel
    tools: dict[str, Any]


@dataclass
class Admission:
    """What a step writes and checks beside its run's start (AgentStepActivities._admit)."""

    owner_id: int | None
    over_budget: str | None
    message_id: int | None  # its streaming message, once it may run


def step_gateway_key(step: AgentStepInput) -> str:
    """The key this step's model calls present at the gateway: it names the task, Model, turn, step and attempt."""
    return gateway_key(step.workflow_id, GatewayScope(step.task_id, step.model_id, step.turn, step.step, step.attempt))


def run_base_id(step: AgentStepInput) -> str:
    return f"{step.workflow_id}-t{step.turn}-s{step.step}-a{step.attempt}"


class AgentStepActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=activity_names.RUN_AGENT_STEP)
    async def run_agent_step(self, step: AgentStepInput) -> StepResult:
        host = self.ctx.host
        metrics.AGENT_SLOTS_IN_USE.labels(host=host).inc()
        started = time.monotonic()
        outcome = "failed"
        try:
            result = await self._run(step, started)
            outcome = "completed"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            metrics.AGENT_SLOTS_IN_USE.labels(host=host).dec()
            metrics.STEP_SECONDS.labels(shell=step.shell_type, outcome=outcome).observe(time.monotonic() - started)

    async def _run(self, step: AgentStepInput, started: float) -> StepResult:
        info = activity.info()
        bound = log.bind(
            task_id=step.task_id,
            workflow_id=step.workflow_id,
            turn=step.turn,
            step=step.step,
            bot=step.bot,
            activity_attempt=info.attempt,
        )
        # The Model and the Ghost's tools are read first (reads only); the step's writes (RUNNING, the budget check,
        # its streaming message) then run beside the run's start, off the way to the first token: the model
        # gateway checks the budget again on every call, so no model call happens over budget either way.
        key = step_gateway_key(step)
        if self.ctx.gateway is not None:
            # The gateway checks the key while the run starts: its first call then finds the check done.
            prefetch = asyncio.create_task(self.ctx.gateway.prefetch(key))
            _BACKGROUND.add(prefetch)
            prefetch.add_done_callback(_BACKGROUND.discard)
        inputs = await self.ctx.db(lambda db: self._read_inputs(db, step))
        read_at = time.monotonic()
        config = inputs.config
        if isinstance(config, InvalidModel):
            await self._publish_running(step, (await self.ctx.db(lambda db: self._admit(db, step, False))).owner_id)
            # Read (and the egress policy checked) for a clear error before the sandbox calls the gateway.
            raise ApplicationError(str(config), type="InvalidModel", non_retryable=True) from config
        model = self._through_gateway(config[0], key)
        url = f"http://127.0.0.1:{step.executor.port}"
        async with ExecutorClient(url, executor_token(step.workflow_id)) as client:
            admission, start = await asyncio.gather(
                self.ctx.db(lambda db: self._admit(db, step, True)),
                self._attach_or_start(client, step, model, info.attempt, inputs.tools),
                return_exceptions=True,
            )
            if isinstance(admission, BaseException):
                raise admission  # a retry re-attaches to the run if it started
            # RUNNING goes out while the stream is set up (two Redis round trips); it is awaited before
            # chat:start, so the state still comes first.
            running = asyncio.create_task(self._publish_running(step, admission.owner_id))
            _BACKGROUND.add(running)  # held until done: the loop keeps only a weak reference to a task
            running.add_done_callback(_BACKGROUND.discard)
            if isinstance(start, ExecutorError):
                await running
                await self._raise_if_lost(step, start)
                raise start
            if isinstance(start, BaseException):
                raise start
            run_id, after = start
            if admission.over_budget:
                # The gateway refuses the run's model calls anyway; the run is stopped so it does not linger.
                with contextlib.suppress(ExecutorError):
                    await client.cancel(run_id, reason="over budget")
                await running
                raise ApplicationError(admission.over_budget, type="BudgetExceeded", non_retryable=True)
            message_id = admission.message_id
            assert message_id is not None
            bound = bound.bind(run_id=run_id, message_id=message_id)
            # How long the way to the run took (operators read the first token's path from these).
            bound.info(
                "agent_step.streaming",
                after=after,
                inputs_read_ms=round((read_at - started) * 1000, 1),
                run_started_ms=round((time.monotonic() - started) * 1000, 1),
            )
            # A re-attached run replays events a previous attempt may have published in other groupings: those
            # go out one by one, where the per-sequence de-duplication is exact. Any retried attempt counts, not
            # only one with a heartbeated point: a worker killed before its first heartbeat had published some.
            window = get_settings().stream_window_ms / 1000 if after == 0 and info.attempt == 1 else 0.0
            live = LiveMessage(self.ctx, step, message_id, run_id, started, window)
            await running
            await live.emit(ChatStart, dedup=("start", 1))
            progress = {"run_id": run_id, "seq": after}
            beat = asyncio.create_task(_heartbeat(progress))
            try:
                done = await self._relay(client, live, run_id, after, progress)
            except asyncio.CancelledError:
                if activity.is_worker_shutdown():
                    # This worker is stopping: leave the run going; the next attempt re-attaches to it. A workflow
                    # that hands steps over is told so, and offers the step to this host only for a short while.
                    bound.info("agent_step.handed_over", seq=progress["seq"])
                    if step.handover:
                        raise ApplicationError(
                            f"the worker of host {self.ctx.host} stopped during the step",
                            type="HostStopping",
                            non_retryable=True,
                        ) from None
                    raise
                # The workflow was cancelled: make the agent really stop before we report back.
                with contextlib.suppress(ExecutorError, asyncio.CancelledError):
                    await asyncio.shield(client.cancel(run_id, reason="task cancelled"))
                # What the user saw stream before the stop stays in the conversation.
                partial = await _text_so_far(client, run_id)
                await self.ctx.db(lambda db: save_step_message(db, self._message(step, partial, "cancelled")))
                with contextlib.suppress(Exception):  # the metrics must not mask the cancellation
                    await asyncio.shield(self._meter(model, message_id))
                await live.emit(ChatCancelled, reason="task cancelled")
                bound.info("agent_step.cancelled")
                raise
            except ExecutorError as exc:
                await self._raise_if_lost(step, exc, live)
                raise
            except ApplicationError as exc:
                failed = self._message(step, exc.message, "error")
                await self.ctx.db(lambda db: save_step_message(db, failed))
                if exc.non_retryable:  # final: what the calls used counts (a retry would count it once it ends)
                    await self._meter(model, message_id)
                await live.emit(ChatError, error=exc.message, retryable=not exc.non_retryable)
                raise
            finally:
                beat.cancel()
                await live.text.close()
            workspace = await workspace_summary(client) if step.shell_type == "ClaudeCode" or step.workspace else {}

        message = self._message(step, done.get("output", ""), "done")
        message.meta = {"run_id": run_id, "session_id": done.get("session_id"), "shell": step.shell_type}
        if live.tools:
            message.meta["tools"] = live.tools
        if workspace:
            message.meta["workspace"] = workspace
        # Usage is what the model gateway recorded for this step's calls (written before the run could end);
        # the executor's own figures are not used, so nothing is counted twice. Read in the session that saves
        # the answer: one database hop between the run's end and the next stage.
        message_id, used = await self.ctx.db(lambda db: _save_and_read_usage(db, message))
        tokens_in, tokens_out, cost = _count(model, used)
        usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out, cost=cost)
        await live.emit(ChatDone, dedup=("done", 1), content=message.content, usage=usage)
        bound.info("agent_step.done", input_tokens=tokens_in, output_tokens=tokens_out)
        return StepResult(
            output=message.content,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            session_id=done.get("session_id"),
            message_id=message_id,
        )

    async def _meter(self, model: ModelConfig, message_id: int) -> tuple[int, int, float]:
        """Count what the step's model calls used (the gateway recorded it) in the metrics, once per step."""
        return _count(model, await self.ctx.db(lambda db: step_usage(db, message_id)))

    def _read_inputs(self, db: Session, step: AgentStepInput) -> RunInputs:
        """The Model (without its key) and the Ghost's tools (their secrets decrypted), for the run only."""
        # The Model, the Ghost and their owners in one query, on the way to the run's start: model_config and
        # ghost_tools then find them in the session.
        ids = [step.model_id] if step.ghost_id is None else [step.model_id, step.ghost_id]
        # Held until the reads below: the session's identity map keeps rows only while something refers to them,
        # and a dropped result would send every db.get to the database again (three more round trips).
        rows = db.execute(
            select(Resource, User).outerjoin(User, User.id == Resource.owner_id).where(Resource.id.in_(ids))
        ).all()
        inputs = RunInputs(
            _model_config(db, step.model_id, self.ctx.keyring), ghost_tools(db, step.ghost_id, self.ctx.keyring)
        )
        del rows
        return inputs

    def _admit(self, db: Session, step: AgentStepInput, may_run: bool) -> Admission:
        """RUNNING state, the owner's budget and, when the step may go on, its streaming message."""
        owner_id = set_state(db, step.task_id, TaskState.RUNNING, None, step.step, step.bot, step.turn)
        # The owner's monthly budget, checked before every step: a task that crossed it stops here.
        over = quotas.refusal_for_task(db, step.task_id)
        message_id = None
        if may_run and not over:
            message_id = save_step_message(db, self._message(step, "", "streaming"))
        return Admission(owner_id, over, message_id)

    async def _publish_running(self, step: AgentStepInput, owner_id: int | None) -> None:
        # No `error`: it stays off the wire, as a step starting never carried one.
        status = TaskStatus(task_id=step.task_id, state=TaskState.RUNNING, turn=step.turn, step=step.step, bot=step.bot)
        await self.ctx.relay.publish(step.task_id, status)
        if owner_id is not None:
            await self.ctx.relay.publish_user(owner_id, status)

    async def _raise_if_lost(self, step: AgentStepInput, exc: Exception, live: LiveMessage | None = None) -> None:
        """The executor stopped answering: if its sandbox is dead, say how it died (no point retrying here)."""
        info = await self.ctx.backend.inspect(step.executor.executor_id)
        if info is not None and info.running:
            return  # alive but unreachable for now: let Temporal retry the activity
        if info is None:
            reason = "the sandbox disappeared"
        elif info.oom_killed:
            reason = f"the sandbox ran out of memory (exit code {info.exit_code})"
        else:
            reason = f"the sandbox exited with code {info.exit_code}"
        failed = self._message(step, reason, "error")
        failed.meta["lost"] = {"exit_code": info.exit_code if info else None, "oom": bool(info and info.oom_killed)}
        await self.ctx.db(lambda db: save_step_message(db, failed))
        if live is not None:
            await live.emit(ChatError, error=reason, retryable=True)
        log.warning("agent_step.executor_lost", task_id=step.task_id, reason=reason, error=str(exc))
        raise ApplicationError(reason, type="ExecutorLost", non_retryable=True) from exc

    @staticmethod
    def _message(step: AgentStepInput, content: str, status: str) -> StepMessage:
        # No token figures: the model gateway adds them to this message as the calls happen.
        return StepMessage(
            task_id=step.task_id,
            turn=step.turn,
            step=step.step,
            attempt=step.attempt,
            bot=step.bot,
            content=content,
            input_tokens=None,
            output_tokens=None,
            cost=None,
            status=status,
            meta={"shell": step.shell_type},
        )

    def _through_gateway(self, model: ModelConfig, key: str) -> ModelConfig:
        """The Model as the executor sees it: this host's gateway and a key for this step, never the real key."""
        gateway = self.ctx.gateway
        if gateway is None:
            raise ApplicationError("this worker runs no model gateway", type="GatewayMissing")
        return model.model_copy(update={"base_url": gateway.url_for(self.ctx.backend.name), "api_key": key})

    async def _attach_or_start(
        self, client: ExecutorClient, step: AgentStepInput, model: Any, attempt: int, tools: dict[str, Any]
    ) -> tuple[str, int]:
        """Continue a previous attempt's run if it is alive or finished well; otherwise start a fresh run."""
        base = run_base_id(step)
        details = activity.info().heartbeat_details
        candidates: list[tuple[str, int]] = []
        if details and isinstance(details[0], dict):
            candidates.append((details[0]["run_id"], int(details[0]["seq"])))
        # No heartbeat yet (crash right after starting)? Earlier attempts' runs may still exist.
        candidates += [(f"{base}-r{n}", 0) for n in range(attempt - 1, 0, -1)]
        seen: set[str] = set()
        for run_id, seq in candidates:
            if run_id in seen:
                continue
            seen.add(run_id)
            try:
                status = await client.status(run_id)
            except RunNotFound:
                continue
            if status.state in (RunState.RUNNING, RunState.DONE):
                return run_id, seq
        run_id = f"{base}-r{attempt}"
        request = RunRequest(
            run_id=run_id,
            runtime=step.shell_type,
            model=model,
            system_prompt=step.system_prompt,
            prompt=step.prompt,
            history=[HistoryMessage(role=h.role, content=h.content) for h in step.history],
            session_id=step.session_id,
            mcp_servers=tools,
        )
        # No heartbeat here: a retry that finds no heartbeat tries this run id among the earlier attempts' above.
        await client.start_run(request)
        return run_id, 0

    async def _relay(
        self, client: ExecutorClient, live: LiveMessage, run_id: str, after: int, progress: dict[str, Any]
    ) -> dict[str, Any]:
        async for event in client.stream_events(run_id, after):
            await live.relay(event)
            progress["seq"] = live.settled
            if event.type == EventType.DONE:
                return event.data
            if event.type == EventType.ERROR:
                data = event.data
                message = data.get("message") or "the agent run failed"
                # The gateway refused or stopped a call over the owner's budget: say so, and do not retry.
                over = await self.ctx.db(lambda db: quotas.refusal_for_task(db, live.step.task_id))
                if over:
                    raise ApplicationError(over, type="BudgetExceeded", non_retryable=True)
                if data.get("retryable"):
                    raise ApplicationError(message, type="ModelTransientError")
                kind = "ModelAuthError" if data.get("code") == "model_auth" else "ModelError"
                raise ApplicationError(message, type=kind, non_retryable=True)
            if event.type == EventType.CANCELLED:
                raise ApplicationError(
                    "the agent run was cancelled in the executor", type="RunCancelled", non_retryable=True
                )
        raise ApplicationError("executor event stream ended without a result", type="ExecutorLost")


async def _text_so_far(client: ExecutorClient, run_id: str, timeout: float = 5.0) -> str:
    """The text a (stopped) run produced, replayed from its event log; '' when the executor cannot say."""

    async def replay() -> str:
        pieces = []
        async for event in client.stream_events(run_id, 0):
            if event.type == EventType.TEXT:
                pieces.append(event.data.get("delta", ""))
            elif event.type in (EventType.DONE, EventType.ERROR, EventType.CANCELLED):
                break
        return "".join(pieces)

    try:
        return await asyncio.wait_for(replay(), timeout)
    except (ExecutorError, TimeoutError, OSError):
        return ""


async def _heartbeat(progress: dict[str, Any]) -> None:
    # Heartbeats carry the re-attach point and let cancellation reach a step that is waiting on a slow model.
    # Several per heartbeat timeout, so a busy event loop does not look like a dead worker.
    timeout = activity.info().heartbeat_timeout
    interval = min(MAX_HEARTBEAT_INTERVAL, timeout.total_seconds() / 4) if timeout else MAX_HEARTBEAT_INTERVAL
    # The first one after an interval, not at once: most steps end sooner and then cost Temporal no heartbeat
    # at all (a write of the activity's state on the server). A Stop reaches a step within the interval either
    # way, and a retry re-attaches without one (see _attach_or_start).
    while True:
        await asyncio.sleep(max(interval, 0.2))
        activity.heartbeat(dict(progress))


def _save_and_read_usage(db: Session, message: StepMessage) -> tuple[int, tuple[int, int, float]]:
    message_id = save_step_message(db, message)
    return message_id, step_usage(db, message_id)


def _count(model: ModelConfig, used: tuple[int, int, float]) -> tuple[int, int, float]:
    """Add a step's usage to the metrics (once per step)."""
    tokens_in, tokens_out, cost = used
    model_name = model.model or model.provider
    metrics.MODEL_TOKENS.labels(model=model_name, direction="input").inc(tokens_in)
    metrics.MODEL_TOKENS.labels(model=model_name, direction="output").inc(tokens_out)
    metrics.MODEL_COST.labels(model=model_name).inc(cost)
    return used


def _model_config(db: Any, model_id: int, keyring: Any) -> Any:
    """model_config without the key (the gateway adds it), an invalid Model returned rather than raised (so it is
    reported as itself)."""
    try:
        return model_config(db, model_id, keyring, with_key=False)
    except InvalidModel as exc:
        return exc
