"""Transactions the database picked as a deadlock's victim run again.

MariaDB breaks a deadlock by rolling one of the transactions back whole, and expects its client to run it again:
that is exact, as nothing of the victim was kept. Two writers of one step's message meet this way (the step
inserting its message while the model gateway adds a call's usage to it), and neither may lose its write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

T = TypeVar("T")
DEADLOCK = 1213  # ER_LOCK_DEADLOCK
ATTEMPTS = 4


def is_deadlock(exc: OperationalError) -> bool:
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == DEADLOCK


def retrying_deadlocks(db: Session, work: Callable[[], T]) -> T:
    """``work`` is one transaction on ``db`` (it commits): run again, after the rollback, when it was the victim."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return work()
        except OperationalError as exc:
            if attempt == ATTEMPTS or not is_deadlock(exc):
                raise
            db.rollback()
    raise AssertionError("unreachable")
