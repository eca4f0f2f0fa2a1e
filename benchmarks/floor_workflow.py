"""The floor Temporal itself sets: a bare workflow whose activities call the scripted model, nothing else.

No database, no plan, no sandbox, no relay: ``stages`` activities in a row on one task queue, each streaming
one chat completion from the same scripted model Wegent's tasks use, and noting when its first chunk
arrived. benchmarks/first_token.py runs it in the same run as Wegent's tasks and reports Wegent against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow


@dataclass
class FloorCall:
    url: str  # the model's chat completions endpoint
    prompt: str


@dataclass
class FloorResult:
    first_chunk: float  # time.time() when the first streamed chunk arrived
    done: float
    text: str


@dataclass
class FloorInput:
    url: str
    prompt: str
    stages: int = 1


@workflow.defn(name="BareFloor")
class BareFloor:
    @workflow.run
    async def run(self, request: FloorInput) -> list[FloorResult]:
        results: list[FloorResult] = []
        prompt = request.prompt
        for _ in range(request.stages):  # each stage gets the previous answer, as a pipeline hands on
            result = await workflow.execute_activity(
                "floor_model_call",
                FloorCall(url=request.url, prompt=prompt),
                result_type=FloorResult,
                start_to_close_timeout=timedelta(seconds=60),
            )
            results.append(result)
            prompt = result.text
        return results
