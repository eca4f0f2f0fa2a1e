#!/usr/bin/env bash
# The interpreter a root worker's local agents run on (activities/executors/agent_user.py): they run as uids
# of their own, which may not enter a Python installed under /root. A venv of the system Python, outside any
# home, with the executor's dependencies at the versions the project's venv runs. Only root needs it;
# idempotent (a no-op when the pins are unchanged); offline when the executor image's wheelhouse has them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || exit 0
dest="${WEGENT_AGENT_PYTHON_DIR:-/opt/wegent/agent-python}"
system_python="${WEGENT_SYSTEM_PYTHON:-/usr/bin/python3}"
deps="$(grep -v '^[[:space:]]*#' "$ROOT/executor/requirements.in" | xargs)"
pins="$("$VENV/bin/python" - "$deps" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for name in sys.argv[1].split():
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        print(name)
PY
)"
if [ -x "$dest/bin/python" ] && [ "$(cat "$dest/.wegent-pins" 2>/dev/null)" = "$pins" ]; then
  exit 0
fi
[ -x "$system_python" ] || apt_install python3 python3-venv
"$system_python" -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
say "agent interpreter: a venv of $system_python at $dest, for local executors run as unprivileged users"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
"$system_python" -m venv "$dest"
printf '%s\n' "$pins" >"$dest/requirements.txt"
pip_install() { "$dest/bin/pip" install --disable-pip-version-check --quiet "$@" -r "$dest/requirements.txt"; }
wheelhouse="$ROOT/.cache/wheelhouse"
if ! { [ -d "$wheelhouse" ] && pip_install --no-index --find-links "$wheelhouse" 2>/dev/null; }; then
  pip_install
fi
chmod -R a+rX "$dest"
printf '%s' "$pins" >"$dest/.wegent-pins"
