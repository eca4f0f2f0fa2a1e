"""The one type for what a sandbox may use, from a Shell's ``resources`` to the backend that starts it.

It travels inside the plan's steps (``StepPlan.limits``), the start request (``StartExecutorInput.limits``) and
the backend's specs (``ExecutorSpec.limits``, ``WarmSpec.limits``). What a Shell asks for may leave values
unset; ``wegent.sandbox.limits_for`` fills them with the operator's defaults and caps them at the maxima.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxLimits:
    cpu: float | None = None  # cores, e.g. 1.5
    memory: str | None = None  # like "512m" or "2g"
    pids: int | None = None  # processes and threads
    network: bool = True  # outbound network; off: the sandbox reaches only the model gateway (through a relay)


def legacy_limits(
    cpu: float | None, memory: str | None, pids: int | None, network: bool | None
) -> SandboxLimits | None:
    """Limits from the flat fields that plans and start requests carried before ``SandboxLimits``.

    Step one of a two-step change: workflows and activity tasks written by an older worker still hold the flat
    fields, so both shapes are read; nothing writes the flat ones any more. Step two (a release after every
    such workflow has ended or continued as new) removes them.
    """
    if cpu is None and memory is None and pids is None and network is None:
        return None
    return SandboxLimits(cpu=cpu, memory=memory, pids=pids, network=True if network is None else network)
