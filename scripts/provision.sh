#!/usr/bin/env bash
# Everything `make run` needs before it starts the product, and nothing else: the virtualenv, the web app and
# the local model. Idempotent: on a provisioned checkout it checks and returns in seconds. Takes `wegent up`'s
# arguments (only --no-local-model matters here).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/bootstrap.sh"
"$ROOT/scripts/build_web.sh" # the web app served at / (built when missing or older than web/src)
"$ROOT/scripts/ensure_agent_python.sh" # as root: the interpreter local agents run on as unprivileged uids
case " $* " in
  *" --no-local-model "*) ;;
  *) "$ROOT/scripts/ensure_local_model.sh" ;;
esac
