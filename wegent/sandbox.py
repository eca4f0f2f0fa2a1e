"""Sandbox limits are the platform's, not the user's.

A Shell may ask for cpu, memory and pids, but the operator's defaults fill in what it leaves out and the
operator's maxima cap what it asks for (``WEGENT_SANDBOX_*``); its image must be on the allow-list
(``WEGENT_EXECUTOR_IMAGES``, plus ``WEGENT_EXECUTOR_IMAGE``). The API refuses a disallowed image when the Shell
is written; the worker applies all of it again when it starts the sandbox, which is what counts.
"""

from __future__ import annotations

import os
import re

from wegent.config import Settings
from wegent.limits import SandboxLimits

_MEMORY = re.compile(r"^([0-9]+)([kmgKMG]?)$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def memory_bytes(value: str) -> int:
    match = _MEMORY.match(value.strip())
    if match is None:
        raise ValueError(f"memory must look like 512m, 2g or a byte count, not {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def limits_for(settings: Settings, asked: SandboxLimits) -> SandboxLimits:
    """What the sandbox gets: the Shell's request or the default, never above the maximum."""
    cpu = min(asked.cpu if asked.cpu is not None else settings.sandbox_cpu, settings.sandbox_max_cpu)
    cpu = min(cpu, float(os.cpu_count() or 1))  # Docker refuses more CPUs than the host has
    wanted = asked.memory if asked.memory is not None else settings.sandbox_memory
    if memory_bytes(wanted) > memory_bytes(settings.sandbox_max_memory):
        wanted = settings.sandbox_max_memory
    pids = min(asked.pids if asked.pids is not None else settings.sandbox_pids, settings.sandbox_max_pids)
    return SandboxLimits(cpu=cpu, memory=wanted, pids=pids, network=asked.network)


def allowed_images(settings: Settings) -> list[str]:
    return [settings.executor_image, *(i for i in settings.executor_images if i != settings.executor_image)]


def image_refusal(settings: Settings, image: str | None) -> str | None:
    """Why a Shell may not run ``image`` (None: the default image, or one on the allow-list)."""
    if image is None or image in allowed_images(settings):
        return None
    allowed = ", ".join(allowed_images(settings))
    return f"is not an allowed executor image (allowed: {allowed}; an admin sets WEGENT_EXECUTOR_IMAGES)"
