"""The embedded storage path: the same API and migrations on a SQLite file."""

from __future__ import annotations

import httpx

from tests.api.stack import YAML, bot_stack
from tests.support.stack import Stack


def test_api_on_sqlite_migrates_and_serves_resources(tmp_path):
    env = {
        "WEGENT_DATABASE_URL": f"sqlite:///{tmp_path / 'wegent.db'}",
        "WEGENT_STATE_DIR": str(tmp_path),
        "WEGENT_EXECUTOR_BACKEND": "local",
    }
    stack = Stack(env, tmp_path, name="sqlite")
    try:
        stack.start(workers=0)
        assert stack.apply(bot_stack("lite"))["applied"]
        got = stack.request("GET", "/api/v1/namespaces/default/models/lite-model").json()
        assert got["spec"]["apiKey"] == "***"
        again = stack.request(
            "POST",
            "/api/v1/namespaces/default/apply",
            content=bot_stack("lite").encode(),
            headers={**stack.headers, **YAML},
        )
        assert {r["result"] for r in again.json()["results"]} == {"unchanged"}
        assert httpx.get(f"{stack.url}/readyz").json()["database"] == "ok"
        assert (tmp_path / "wegent.db").exists()
        # The resources really are in that file (the API did not quietly use another database).
        import sqlite3

        with sqlite3.connect(tmp_path / "wegent.db") as db:
            names = {row[0] for row in db.execute("SELECT name FROM resources WHERE name LIKE 'lite-%'")}
        assert {"lite-model", "lite-bot"} <= names, names
    finally:
        stack.stop()
