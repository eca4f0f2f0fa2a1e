"""Host-side executor backends: start/stop/inspect the per-task executor (Docker container or subprocess)."""

from activities.executors.base import (
    ExecutorBackend,
    ExecutorError,
    ExecutorHandle,
    ExecutorImageMissing,
    ExecutorInfo,
    ExecutorSpec,
    ExecutorStartError,
    ExecutorUnhealthy,
)
from activities.executors.factory import get_backend

__all__ = [
    "ExecutorBackend",
    "ExecutorError",
    "ExecutorHandle",
    "ExecutorImageMissing",
    "ExecutorInfo",
    "ExecutorSpec",
    "ExecutorStartError",
    "ExecutorUnhealthy",
    "get_backend",
]
