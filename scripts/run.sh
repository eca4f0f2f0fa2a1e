#!/usr/bin/env bash
# The README's run command: install what is missing, then run the whole product in one process
# (`wegent up`: API + Socket.IO + worker, with the Temporal dev server and the local model's llama-server as
# child processes; state under ./.wegent). Arguments go to `wegent up` (e.g. --port, --no-local-model).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/provision.sh" "$@"
cd "$ROOT"
exec "$VENV/bin/wegent" up "$@"
