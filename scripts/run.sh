#!/usr/bin/env bash
# The README's run command: install what is missing, then run the whole product in one process
# (`wegent up`: API + Socket.IO + worker, with the Temporal dev server and the local model's llama-server as
# child processes; state under ./.wegent). Arguments go to `wegent up` (e.g. --port, --no-local-model).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/bootstrap.sh"
"$ROOT/scripts/build_web.sh" # the web app served at / (built when missing or older than web/src)
case " $* " in
  *" --no-local-model "*) ;;
  *) "$ROOT/scripts/ensure_local_model.sh" ;;
esac
cd "$ROOT"
exec "$VENV/bin/wegent" up "$@"
