"""The sandbox gate (worker/admission.py): at most `ahead` sandboxes started but not yet running a step."""

from __future__ import annotations

import asyncio

from worker.admission import SandboxGate


async def test_a_start_waits_for_room_and_a_warm_take_never_does() -> None:
    gate = SandboxGate(ahead=1)
    assert await gate.admit("task-1", max_wait=5)
    assert not gate.try_admit("task-2")  # no room: a warm take falls back to the regular start
    waiting = asyncio.create_task(gate.admit("task-3", max_wait=5))
    await asyncio.sleep(0)
    assert gate.waiting == 1
    assert gate.try_admit("task-1")  # the same workflow's second sandbox is already admitted
    gate.release("task-1")  # its step began: the one waiting goes first, not a newcomer
    assert await waiting
    assert not gate.try_admit("task-4")
    gate.release("task-3")
    assert gate.try_admit("task-4")


async def test_a_start_that_waited_too_long_goes_ahead_anyway() -> None:
    gate = SandboxGate(ahead=1)
    assert gate.try_admit("task-1")
    assert await gate.admit("task-2", max_wait=0.05) is False
    assert gate.ready == 2
