"""``python -m executor`` as a real subprocess: startup, token enforcement, a run, and log hygiene."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor.client import ExecutorClient
from tests.executor.conftest import MODEL_KEY, collect, run_request
from tests.support.model_server import ModelServer
from wegent.events import EventType

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "subprocess-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def executor_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {**os.environ, "EXECUTOR_TOKEN": TOKEN, "EXECUTOR_PORT": str(port)}
    env["EXECUTOR_WORKDIR"] = str(tmp_path_factory.mktemp("executor-workdir"))
    process = subprocess.Popen(
        [sys.executable, "-m", "executor", "--host", "127.0.0.1"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield f"http://127.0.0.1:{port}", process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


async def test_subprocess_executor_runs_and_keeps_secrets_out_of_logs(
    executor_process: tuple[str, subprocess.Popen[str]], model_server: ModelServer
) -> None:
    url, process = executor_process
    secret_prompt = "the launch code is 0000-SECRET"
    async with ExecutorClient(url, TOKEN) as client:
        assert (await client.wait_healthy(max_wait=30))["status"] == "ok"
        request = run_request(model_server, secret_prompt, system_prompt="classified system prompt")
        await client.start_run(request)
        events = await collect(client, request.run_id)
        assert events[-1].type is EventType.DONE
        assert events[-1].data["output"] == f"echo: {secret_prompt}"

    process.terminate()
    output, _ = await asyncio.to_thread(process.communicate, timeout=10)
    assert request.run_id in output  # logs are structured and carry run_id
    assert '"event": "run_finished"' in output
    for secret in (MODEL_KEY, TOKEN, "0000-SECRET", "classified system prompt"):
        assert secret not in output


def test_token_is_required() -> None:
    env = {k: v for k, v in os.environ.items() if k != "EXECUTOR_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "executor", "--port", str(free_port())],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "executor_token_missing" in result.stdout
