"""One SandboxLimits type from a Shell's resources to the backend: both shapes are read while older workflows
and queued activity tasks still carry the flat fields, and the operator's defaults and maxima always apply."""

from __future__ import annotations

import json

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from wegent.config import Settings
from wegent.limits import SandboxLimits
from wegent.sandbox import limits_for
from workflows.models import StartExecutorInput, StepPlan

CONVERTER = DataConverter.default.payload_converter


def _decode(document: dict[str, object], as_type: type) -> object:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(document).encode())
    return CONVERTER.from_payloads([payload], [as_type])[0]


def test_a_plan_step_written_with_flat_limits_keeps_them_after_the_upgrade() -> None:
    written_before = {
        "index": 1,
        "bot": "check",
        "role": "member",
        "shell_type": "Chat",
        "system_prompt": "s",
        "model_id": 1,
        "image": "wegent-executor:offline",
        "cpu": 0.5,
        "memory": "512m",
        "pids": 64,
        "network": False,
    }
    step = _decode(written_before, StepPlan)
    assert isinstance(step, StepPlan)
    # An offline member stays offline: losing `network: false` in an upgrade would open its sandbox.
    assert step.limits == SandboxLimits(cpu=0.5, memory="512m", pids=64, network=False)
    assert (step.cpu, step.memory, step.pids, step.network) == (None, None, None, None)


def test_a_start_request_queued_by_an_older_worker_is_read_in_its_flat_shape() -> None:
    request = _decode({"task_id": 7, "workflow_id": "task-7", "network": False, "sandbox": "2"}, StartExecutorInput)
    assert isinstance(request, StartExecutorInput)
    assert request.limits == SandboxLimits(network=False) and request.sandbox == "2"


def test_the_nested_shape_round_trips_and_writes_no_flat_values() -> None:
    request = StartExecutorInput(task_id=7, workflow_id="task-7", limits=SandboxLimits(memory="1g", network=False))
    payload = CONVERTER.to_payloads([request])[0]
    written = json.loads(payload.data)
    assert written["limits"] == {"cpu": None, "memory": "1g", "pids": None, "network": False}
    assert written["network"] is None
    assert _decode(written, StartExecutorInput) == request


def test_the_operators_defaults_fill_in_and_maxima_cap_what_a_shell_asks() -> None:
    settings = Settings.model_validate(
        {
            "WEGENT_SANDBOX_CPU": 1,
            "WEGENT_SANDBOX_MAX_CPU": 1,
            "WEGENT_SANDBOX_MEMORY": "256m",
            "WEGENT_SANDBOX_MAX_MEMORY": "1g",
            "WEGENT_SANDBOX_PIDS": 100,
            "WEGENT_SANDBOX_MAX_PIDS": 200,
        }
    )
    assert limits_for(settings, SandboxLimits()) == SandboxLimits(cpu=1, memory="256m", pids=100, network=True)
    asked = SandboxLimits(cpu=8, memory="64g", pids=10_000, network=False)
    assert limits_for(settings, asked) == SandboxLimits(cpu=1, memory="1g", pids=200, network=False)
