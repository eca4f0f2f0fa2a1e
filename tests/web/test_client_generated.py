"""The web app's REST client is generated from the API's OpenAPI spec: fail when either is out of date.

Regenerate both with `bash scripts/gen_web_client.sh`.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
_spec = importlib.util.spec_from_file_location("dump_openapi", WEB / "scripts" / "dump_openapi.py")
assert _spec and _spec.loader
dump_openapi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dump_openapi)
OUT: Path = dump_openapi.OUT
spec_text = dump_openapi.spec_text
HINT = "the generated web client is out of date: run `bash scripts/gen_web_client.sh` and commit the result"


def test_committed_spec_matches_the_app() -> None:
    assert json.loads(OUT.read_text()) == json.loads(spec_text()), HINT


def test_task_routes_declare_their_response_models() -> None:
    spec = json.loads(spec_text())

    def schema(path: str, method: str, status: str) -> str:
        content = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        return content.get("$ref") or content["items"]["$ref"]

    assert schema("/api/v1/tasks", "get", "200").endswith("/TaskListPublic")
    assert schema("/api/v1/tasks", "post", "201").endswith("/TaskPublic")
    assert schema("/api/v1/tasks/{task_id}", "get", "200").endswith("/TaskDetailPublic")
    assert schema("/api/v1/tasks/{task_id}/messages", "post", "202").endswith("/FollowUpPublic")
    assert schema("/api/v1/users/me/usage", "get", "200").endswith("/UsageReportPublic")
    assert schema("/api/v1/admin/usage", "get", "200").endswith("/UsageReportPublic")
    detail = spec["components"]["schemas"]["TaskDetailPublic"]["properties"]
    assert detail["messages"]["items"]["$ref"].endswith("/MessagePublic")
    assert detail["steps"]["items"]["$ref"].endswith("/StepPublic")


def test_committed_typescript_client_matches_the_spec(tmp_path: Path) -> None:
    out = tmp_path / "schema.d.ts"
    generated = subprocess.run(
        ["npx", "--no-install", "openapi-typescript", str(OUT), "-o", str(out)],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr + generated.stdout
    assert out.read_text() == (WEB / "src" / "client" / "schema.d.ts").read_text(), HINT


def test_committed_realtime_protocol_matches_the_python_one() -> None:
    spec = importlib.util.spec_from_file_location("dump_realtime", WEB / "scripts" / "dump_realtime.py")
    assert spec and spec.loader
    dump_realtime = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dump_realtime)
    assert dump_realtime.OUT.read_text() == dump_realtime.realtime_ts(), HINT
