#!/usr/bin/env bash
# Create the virtualenv and install Wegent with its dev extras. Idempotent: reinstalls only when
# pyproject.toml changed since the last successful install.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  say "Python 3.11+ is required (found: $("$PY" --version 2>&1))"
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && "$PY" -m venv "$VENV"; }
fi
stamp="$VENV/.wegent-installed"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Python dependencies into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e "$ROOT[dev]"
  echo "$want" >"$stamp"
fi
# Bytecode for our own packages (pip compiles the dependencies it installs). Without it, a shell that sets
# PYTHONDONTWRITEBYTECODE compiles every module at every process start, and the worker's workflow sandbox
# compiles the task workflow's module again for every task it starts. Only changed files are recompiled.
"$VENV/bin/python" -m compileall -q -j 0 \
  "$ROOT/api" "$ROOT/activities" "$ROOT/cli" "$ROOT/core" "$ROOT/executor" "$ROOT/wegent" "$ROOT/worker" \
  "$ROOT/workflows" >/dev/null
