#!/usr/bin/env bash
# The README's test command: provision whatever is missing, then run the whole suite on the real stack.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/bootstrap.sh"
"$ROOT/scripts/ensure_services.sh"
"$ROOT/scripts/ensure_temporal.sh"
"$ROOT/scripts/build_web.sh"      # the web app, for tests/web (its unit tests run through pytest too)
"$ROOT/scripts/ensure_browser.sh" # Debian's chromium and CJK fonts for the browser tests
"$ROOT/scripts/ensure_docker.sh"
"$ROOT/scripts/build_executor_image.sh"
"$ROOT/scripts/ensure_claude.sh" >/dev/null # the claude CLI on this host, for local executors' ClaudeCode runtime
"$ROOT/scripts/ensure_agent_python.sh"     # as root: the interpreter local agents run on as unprivileged uids
WEGENT_LOCAL_MODEL=1 "$ROOT/scripts/ensure_local_model.sh" # tests/e2e/test_embedded.py runs the real local model

cd "$ROOT"
"$VENV/bin/ruff" check .
exec "$VENV/bin/python" -m pytest "$@"
