"""Importing the API's metrics registers the task-state collector without touching the database: registration
reads the collector's description, and only a scrape counts the tasks."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.stack import ROOT


def test_importing_the_metrics_queries_nothing() -> None:
    # A database nobody listens on: a query at import would fail and log metrics.tasks_unavailable.
    env = {**os.environ, "WEGENT_DATABASE_URL": "mysql+pymysql://root@127.0.0.1:1/none", "WEGENT_LOG_FORMAT": "json"}
    probe = (
        "import api.metrics\n"
        "from prometheus_client import REGISTRY\n"
        "assert REGISTRY._wegent_tasks\n"
        "print('registered')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "registered"
    assert "tasks_unavailable" not in done.stdout + done.stderr
