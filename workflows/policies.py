"""Retry policies and timeouts shared by the workflows' activity calls (stated again at each call site)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Database and bookkeeping: transient outages (MySQL restart, network blip) are retried for a while.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=["InvalidTeam", "TaskNotFound"],
)
# Starting a sandbox: a few attempts, then the task fails with the reason.
EXECUTOR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=4,
    non_retryable_error_types=["ExecutorImageMissing", "NoFreePort"],
)
# An agent step: a retry re-attaches to the same executor run, so the model is not called again.
AGENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=5,
    non_retryable_error_types=["ModelError", "ModelAuthError", "InvalidModel", "RunCancelled"],
)
CLEANUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=10
)
