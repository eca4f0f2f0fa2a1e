"""Bookkeeping activities on the shared `wegent-tasks` queue: plans, states, host selection."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext
from activities.plans import InvalidTeam, build_plan
from core import quotas
from core.tasks.records import save_note, set_state
from wegent import metrics
from wegent.logging import get_logger
from wegent.realtime_payloads import ChatMessage, TaskStatus
from workflows import activity_names
from workflows.models import Note, PlanRequest, SlotClaim, SlotRequest, StateUpdate, TaskPlan, TaskState

log = get_logger("activities.tasks")


class TaskActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=activity_names.RESOLVE_PLAN)
    async def resolve_plan(self, request: PlanRequest) -> TaskPlan:
        task_id = request.task_id
        try:
            plan = await self.ctx.db(
                lambda db: build_plan(
                    db,
                    task_id,
                    self.ctx.keyring,
                    request.history_through_turn,
                    request.retry,
                    request.model_override_id,
                )
            )
        except InvalidTeam as exc:
            raise ApplicationError(str(exc), type="InvalidTeam", non_retryable=True) from exc
        except LookupError as exc:
            raise ApplicationError(str(exc), type="TaskNotFound", non_retryable=True) from exc
        metrics.TASK_RUNS_STARTED.inc()
        return plan

    @activity.defn(name=activity_names.UPDATE_STATE)
    async def update_task_state(self, update: StateUpdate) -> bool:
        owner_id = await self.ctx.db(
            lambda db: set_state(
                db, update.task_id, update.state, update.error, update.current_step, update.current_bot
            )
        )
        changed = owner_id is not None
        if changed and update.state in TaskState.TERMINAL:
            metrics.TASKS_FINISHED.labels(state=update.state).inc()
        log.info(
            "task.state",
            task_id=update.task_id,
            state=update.state,
            changed=changed,
            workflow_id=activity.info().workflow_id,
        )
        if owner_id is not None:
            status = TaskStatus(
                task_id=update.task_id,
                state=update.state,
                turn=update.turn,
                error=update.error,
                step=update.current_step,
                bot=update.current_bot,
            )
            await self.ctx.relay.publish(update.task_id, status)
            await self.ctx.relay.publish_user(owner_id, status)
        return changed

    @activity.defn(name=activity_names.RECORD_NOTE)
    async def record_note(self, note: Note) -> int:
        meta = {"kind": note.kind, **note.data}
        message_id = await self.ctx.db(
            lambda db: save_note(db, note.task_id, note.turn, note.step, note.bot, note.content, meta)
        )
        written = ChatMessage(
            task_id=note.task_id,
            message_id=message_id,
            turn=note.turn,
            step=note.step,
            bot=note.bot,
            role="system",
            content=note.content,
            meta=meta,
        )
        await self.ctx.relay.publish(note.task_id, written, dedup=(f"note:{message_id}", 1))
        return message_id

    @activity.defn(name=activity_names.CLAIM_SLOT)
    async def claim_user_slot(self, request: SlotRequest) -> SlotClaim:
        reason = await self.ctx.db(lambda db: quotas.claim_slot_and_commit(db, request.task_id))
        if reason is None:
            return SlotClaim(claimed=True)
        owner_id = await self.ctx.db(lambda db: set_state(db, request.task_id, TaskState.PENDING, reason))
        if owner_id is not None:  # visibly waiting, with the reason, in the task list and the chat
            status = TaskStatus(task_id=request.task_id, state=TaskState.PENDING, turn=request.turn, error=reason)
            await self.ctx.relay.publish(request.task_id, status)
            await self.ctx.relay.publish_user(owner_id, status)
        return SlotClaim(claimed=False, reason=reason)

    @activity.defn(name=activity_names.PICK_HOST)
    async def pick_host(self) -> str:
        """Whichever live worker takes this from the shared queue offers its own host."""
        return self.ctx.host
