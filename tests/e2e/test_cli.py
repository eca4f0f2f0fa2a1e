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
        [sys.executable, "-m", "wegent.cli.main", *args],
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
