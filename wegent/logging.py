"""structlog set-up shared by every process: JSON lines by default, context vars for request/task ids."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(api[_-]?key|password|token|secret|authorization)", re.IGNORECASE)


def _is_token_count(key: str, value: Any) -> bool:
    # ``input_tokens=812`` counts a model's tokens; it is what operators read usage from, not a credential.
    return key.lower().endswith("_tokens") and isinstance(value, int) and not isinstance(value, bool)


def _redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Defence in depth: a secret passed to a log call by mistake never reaches the output.
    for key in list(event_dict):
        value = event_dict[key]
        if _SECRET_KEYS.search(key) and value not in (None, "") and not _is_token_count(key, value):
            event_dict[key] = "***"
    return event_dict


def _add_pid(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Several API processes (`wegent api --workers N`) and workers share one log stream: say which one spoke.
    event_dict.setdefault("pid", os.getpid())
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_pid,
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,  # loggers stay reconfigurable (tests capture them)
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name) if name else structlog.get_logger()
