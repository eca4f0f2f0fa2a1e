"""The `wegent` CLI against a running API: login, apply, get, delete, run (streaming), tasks, logs, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from tests.conftest import ADMIN_PASSWORD
from tests.e2e.teams import team_yaml


def wegent(stack, config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "WEGENT_CONFIG_DIR": str(config), "WEGENT_API_URL": stack.url}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=120,
    )


def test_cli_round_trip(local_stack, model, tmp_path):
    config = tmp_path / "cfg"
    bad = wegent(local_stack, config, "login", "-u", "admin", "-p", "wrong")
    assert bad.returncode == 1 and "incorrect username or password" in bad.stderr
    ok = wegent(local_stack, config, "login", "-u", "admin", "-p", ADMIN_PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert (config / "credentials.json").stat().st_mode & 0o077 == 0  # the token file is private

    prefix = "cli" + uuid.uuid4().hex[:6]
    manifest = tmp_path / "team.yaml"
    manifest.write_text(team_yaml(prefix, model.openai_base_url, [{"bot": "helper"}], collaboration="solo"))
    applied = wegent(local_stack, config, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert f"Team/{prefix}-team created" in applied.stdout
    again = wegent(local_stack, config, "apply", "-f", str(manifest))
    assert f"Team/{prefix}-team unchanged" in again.stdout

    table = wegent(local_stack, config, "get", "bots")
    assert table.returncode == 0 and "NAME" in table.stdout and f"{prefix}-helper" in table.stdout
    exported = wegent(local_stack, config, "get", "model", f"{prefix}-model", "-o", "yaml")
    doc = yaml.safe_load(exported.stdout)
    assert doc["kind"] == "Model" and doc["spec"]["apiKey"] == "***"

    ran = wegent(local_stack, config, "run", "--team", f"{prefix}-team", "hello from the cli")
    assert ran.returncode == 0, ran.stderr
    assert f"── {prefix}-helper" in ran.stdout and "echo: hello from the cli" in ran.stdout
    assert "[COMPLETED]" in ran.stderr
    task_id = int(ran.stderr.split("task ", 1)[1].split()[0])
    listed = wegent(local_stack, config, "tasks", "--team", f"{prefix}-team")
    assert str(task_id) in listed.stdout and "COMPLETED" in listed.stdout
    logs = wegent(local_stack, config, "logs", str(task_id))
    assert logs.returncode == 0 and "echo: hello from the cli" in logs.stdout

    referenced = wegent(local_stack, config, "delete", "bot", f"{prefix}-helper")
    assert referenced.returncode == 1 and "is referenced by Team" in referenced.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Ghost\nmetadata: {name: Bad_Name}\nspec: {systemPrompt: x}\n")
    failed = wegent(local_stack, config, "apply", "-f", str(broken))
    assert failed.returncode == 1 and "metadata.name" in failed.stdout
    unknown = wegent(local_stack, config, "get", "gadgets")
    assert unknown.returncode == 1 and "unknown kind" in unknown.stderr
    missing_team = wegent(local_stack, config, "run", "--team", "no-such-team", "x")
    assert missing_team.returncode == 1 and "does not exist" in missing_team.stderr


def _logged_in(stack, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    config = tmp_path / "cfg"
    ok = wegent(stack, config, "login", "-u", "admin", "-p", ADMIN_PASSWORD)
    assert ok.returncode == 0, ok.stderr
    return config


def _solo(stack, model, config: Path, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    prefix = "cli" + uuid.uuid4().hex[:6]
    manifest = tmp_path / f"{prefix}.yaml"
    manifest.write_text(team_yaml(prefix, model.openai_base_url, [{"bot": "helper"}], collaboration="solo"))
    assert wegent(stack, config, "apply", "-f", str(manifest)).returncode == 0
    return f"{prefix}-team"


def test_run_streams_text_before_the_task_ends_and_cancel_exits_2(local_stack, model, tmp_path):
    """The answer is on stdout while the model is still stalled mid-answer: it came through the live stream."""
    from tests.support.model_server import ScriptRule

    config = _logged_in(local_stack, tmp_path)
    team = _solo(local_stack, model, config, tmp_path)
    model.script([ScriptRule(match="stall", text="Partial answer, then nothing", chunk_size=8, stall=True)])
    env = {**os.environ, "WEGENT_CONFIG_DIR": str(config), "WEGENT_API_URL": local_stack.url}
    run = subprocess.Popen(
        [sys.executable, "-u", "-m", "cli.main", "run", "--team", team, "please stall"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = b""
        while b"Partial " not in seen:  # blocks until the first chunk is printed; the task is still RUNNING
            piece = os.read(run.stdout.fileno(), 4096)  # type: ignore[union-attr]
            assert piece, f"stdout closed before any text; stderr:\n{run.stderr.read()}"  # type: ignore[union-attr]
            seen += piece
        tasks = local_stack.request("GET", "/api/v1/tasks", params={"team": team}).json()["items"]
        assert [t["state"] for t in tasks] == ["RUNNING"]
        cancelled = wegent(local_stack, config, "cancel", str(tasks[0]["id"]))
        assert cancelled.returncode == 0, cancelled.stderr
        assert f"task {tasks[0]['id']}" in cancelled.stdout
        _, err_bytes = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    err = err_bytes.decode()
    assert run.returncode == 2, err  # 2: cancelled
    assert "[CANCELLED]" in err
    assert "relays no live events" not in err


def test_run_of_a_failing_model_exits_1_with_the_error(local_stack, model, tmp_path):
    from tests.support.model_server import ScriptRule

    config = _logged_in(local_stack, tmp_path)
    team = _solo(local_stack, model, config, tmp_path)
    model.script([ScriptRule(match="*", status=401, error_message="invalid api key")])
    ran = wegent(local_stack, config, "run", "--team", team, "this will fail")
    assert ran.returncode == 1, ran.stderr
    assert "[FAILED]" in ran.stderr and "error:" in ran.stderr and "401" in ran.stderr


def test_logs_reports_the_stored_usage(local_stack, model, tmp_path):
    config = _logged_in(local_stack, tmp_path)
    team = _solo(local_stack, model, config, tmp_path)
    ran = wegent(local_stack, config, "run", "--team", team, "count my tokens please")
    assert ran.returncode == 0, ran.stderr
    task_id = int(ran.stderr.split("task ", 1)[1].split()[0])
    usage = local_stack.task(task_id)["usage"]
    assert usage["inputTokens"] > 0 and usage["outputTokens"] > 0
    logs = wegent(local_stack, config, "logs", str(task_id))
    assert logs.returncode == 0, logs.stderr
    assert f"tokens in {usage['inputTokens']}, out {usage['outputTokens']}" in logs.stderr


def test_without_a_shared_bus_the_user_is_told_output_comes_from_polling(stack_factory, model, tmp_path):
    stack = stack_factory("local", WEGENT_REDIS_URL="")
    config = _logged_in(stack, tmp_path)
    team = _solo(stack, model, config, tmp_path)
    ran = wegent(stack, config, "run", "--team", team, "no bus here")
    assert ran.returncode == 0, ran.stderr
    assert "relays no live events" in ran.stderr and "polling" in ran.stderr
    assert "echo: no bus here" in ran.stdout  # still complete, from the database
