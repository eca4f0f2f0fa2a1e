"""Exceptions the workflow shapes raise to end a turn in a particular way."""

from __future__ import annotations

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    RetryState,
    TimeoutError,
    TimeoutType,
)


class TaskRejected(Exception):
    """A person rejected a pipeline stage: the task ends CANCELLED with their reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invalid_team(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidTeam", non_retryable=True)


def root_message(err: BaseException) -> str:
    """The innermost failure's message: what actually went wrong, for the user."""
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
    return getattr(err, "message", None) or str(err)


def is_cancellation(err: BaseException) -> bool:
    while isinstance(err, FailureError):
        if isinstance(err, CancelledError):
            return True
        # An activity that timed out while its cancellation was pending (its worker died) ends this way.
        if isinstance(err, ActivityError) and err.retry_state == RetryState.CANCEL_REQUESTED:
            return True
        if err.cause is None:
            return False
        err = err.cause
    return False


def _causes(err: BaseException) -> list[BaseException]:
    chain = [err]
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
        chain.append(err)
    return chain


def is_host_gone(err: BaseException) -> bool:
    """The step's host queue went unserved: its worker (and probably its sandboxes) are gone."""
    return any(isinstance(e, TimeoutError) and e.type == TimeoutType.SCHEDULE_TO_START for e in _causes(err))


def is_host_stopping(err: BaseException) -> bool:
    """The step's worker stopped (SIGTERM) mid-run, leaving the run going in its sandbox."""
    return any(isinstance(e, ApplicationError) and e.type == "HostStopping" for e in _causes(err))


def executor_loss(err: BaseException) -> str | None:
    """Why the sandbox was lost, when that is what failed the step; None for any other failure."""
    for e in _causes(err):
        if isinstance(e, ApplicationError) and e.type == "ExecutorLost":
            return e.message
    if is_host_gone(err):
        return "its host stopped serving work"
    return None
