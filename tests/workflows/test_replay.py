"""Committed histories of TaskWorkflow must replay against the current code: running tasks survive deploys.

A change that breaks this needs `workflow.patched(...)` (see workflows/task_workflow.py), not new histories.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import ENCRYPTION_KEYS
from wegent.crypto import Keyring
from wegent.temporal.codec import data_converter
from workflows.task_workflow import TaskWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay():
    assert len(HISTORIES) >= 4, "record histories with tests/workflows/record_histories.py"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_against_current_code(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    converter = data_converter(Keyring.parse(ENCRYPTION_KEYS))  # newer histories carry encrypted payloads
    await Replayer(workflows=[TaskWorkflow], data_converter=converter).replay_workflow(history)
