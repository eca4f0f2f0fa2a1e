"""Record workflow histories for the replay tests (run by hand after changing workflow code on purpose).

    WEGENT_TEST_NAMESPACE=wegent-record .venv/bin/pytest tests/e2e/test_task_execution.py
    .venv/bin/python -m tests.workflows.record_histories --namespace wegent-record

Saves every closed TaskWorkflow of the namespace as tests/workflows/histories/<type>-<status>-<id>.json.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from temporalio.client import Client

OUT = Path(__file__).parent / "histories"


async def record(address: str, namespace: str, query: str) -> list[Path]:
    client = await Client.connect(address, namespace=namespace)
    saved = []
    async for wf in client.list_workflows(query):
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        status = wf.status.name.lower() if wf.status else "unknown"
        path = OUT / f"{wf.workflow_type}-{status}-{wf.id}.json"
        path.write_text(history.to_json())
        saved.append(path)
    return saved


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="127.0.0.1:7233")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--query", default="WorkflowType = 'TaskWorkflow' AND ExecutionStatus != 'Running'")
    args = parser.parse_args()
    for path in asyncio.run(record(args.address, args.namespace, args.query)):
        print(path)
