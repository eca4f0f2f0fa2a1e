"""Exceptions the workflow shapes raise to end a turn in a particular way."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, CancelledError, FailureError


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
        if err.cause is None:
            return False
        err = err.cause
    return False
