"""Child process groups of an agent CLI: read their output, wait for them, and end the whole tree on cancel.

A CLI like Claude Code starts tools (shells, language servers) in process groups of their own; stopping only
the CLI would leave them running in the sandbox, so the whole tree of groups is found and signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque

#: How long a signalled group gets to exit before the next, harder signal.
TERMINATE_GRACE_SECONDS = 3.0


async def collect_lines(stream: asyncio.StreamReader | None, tail: deque[str]) -> None:
    if stream is None:
        return
    while True:
        try:
            raw = await stream.readline()
        except ValueError:
            continue
        if not raw:
            return
        text = raw.decode("utf-8", "replace").strip()
        if text:
            tail.append(text[:500])


async def wait_exit(proc: asyncio.subprocess.Process, seconds: float) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), seconds)
    except TimeoutError:
        return None


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    if pgid <= 1 or pgid == os.getpgrp():  # never our own group (or init's)
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) for every process we can see (Linux /proc)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def tree_groups(root: int) -> set[int]:
    """Process groups of ``root`` and all its descendants: the CLI starts tools in groups of their own."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    groups, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            groups.add(table[child][1])
            stack.append(child)
    return groups


async def terminate_tree(proc: asyncio.subprocess.Process, known: set[int] | None = None) -> None:
    """SIGTERM the CLI and every process group its tools run in, SIGKILL what is left after the grace period.

    The groups are collected while the CLI still lives: once it dies its children are re-parented and can no
    longer be told apart from anyone else's.
    """
    groups = (tree_groups(proc.pid) if proc.returncode is None else {proc.pid}) | (known or set())
    if proc.returncode is None:
        for group in groups:
            signal_group(group, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), TERMINATE_GRACE_SECONDS)
    if proc.returncode is None:
        groups |= tree_groups(proc.pid)
    # Also after a clean exit: whatever the agent left running in the background goes with the run.
    for group in groups:
        signal_group(group, signal.SIGKILL)
    if proc.returncode is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), TERMINATE_GRACE_SECONDS)
