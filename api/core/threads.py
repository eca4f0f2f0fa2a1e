"""Blocking work of the hottest endpoints, on a plain thread pool.

FastAPI runs sync endpoints through anyio's worker threads, whose per-call machinery (cancel scope,
capacity limiter, run variables) costs more CPU than a GET of one resource does. The read endpoints hand
their database work to this pool instead: one ``run_in_executor`` with the caller's context variables (the
request id in every log line) and nothing else. Sized by ``WEGENT_API_THREADS``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        from wegent.config import get_settings

        _pool = ThreadPoolExecutor(max_workers=get_settings().api_threads, thread_name_prefix="wegent-read")
    return _pool


async def in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_executor(), partial(context.run, fn, *args, **kwargs))
