#!/usr/bin/env bash
# The README's run command: install what is missing, then run the whole product in one process
# (`wegent up`: API + Socket.IO + worker + the Temporal dev server, state under ./.wegent).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec "$VENV/bin/wegent" up "$@"
