"""The floor Temporal itself sets for a task: a bare workflow with as many activities as a Wegent task runs.

Used by benchmarks/throughput.py. `BareTaskWorkflow` runs ``before`` no-op activities on a shared queue, then
one activity on an agent queue that streams the same scripted model's answer (that queue's worker has the same
slot cap as Wegent's agent queue), then ``after`` no-op activities: the shape of a solo task
(plan, host, sandbox start, agent step, state, sandbox stop) without a database, a sandbox or a relay.

The worker runs as its own process, as Wegent's does:

    .venv/bin/python -m benchmarks.bare_floor --namespace NS --queue Q --cap 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass
class BareTask:
    prompt: str
    model_url: str  # ".../v1"
    before: int
    after: int
    agent_queue: str


@activity.defn(name="bare_noop")
async def bare_noop(index: int) -> int:
    return index


@activity.defn(name="bare_model_call")
async def bare_model_call(task: BareTask) -> str:
    import httpx

    body = {"model": "scripted", "stream": True, "messages": [{"role": "user", "content": task.prompt}]}
    pieces = []
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", f"{task.model_url}/chat/completions", json=body) as response,
    ):
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            for choice in json.loads(line[5:]).get("choices", []):
                pieces.append((choice.get("delta") or {}).get("content") or "")
    return "".join(pieces)


@workflow.defn(name="BareTaskWorkflow")
class BareTaskWorkflow:
    @workflow.run
    async def run(self, task: BareTask) -> str:
        timeout = timedelta(seconds=60)
        for index in range(task.before):
            await workflow.execute_activity(bare_noop, index, start_to_close_timeout=timeout)
        answer = await workflow.execute_activity(
            bare_model_call,
            task,
            task_queue=task.agent_queue,
            schedule_to_start_timeout=timedelta(hours=1),
            start_to_close_timeout=timeout,
        )
        for index in range(task.after):
            await workflow.execute_activity(bare_noop, index, start_to_close_timeout=timeout)
        return answer


async def serve(address: str, namespace: str, queue: str, cap: int) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address, namespace=namespace)
    workers = [
        Worker(client, task_queue=queue, workflows=[BareTaskWorkflow], activities=[bare_noop]),
        Worker(client, task_queue=f"{queue}-agent", activities=[bare_model_call], max_concurrent_activities=cap),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runners = [asyncio.create_task(w.run()) for w in workers]
    print("ready", flush=True)
    await stop.wait()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    await asyncio.gather(*runners, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="127.0.0.1:7233")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--cap", type=int, default=5, help="slots of the agent queue's worker")
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.namespace, args.queue, args.cap))


if __name__ == "__main__":
    main()
