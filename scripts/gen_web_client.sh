#!/usr/bin/env bash
# Regenerate the web app's REST client from the API: the OpenAPI spec (web/openapi.json) and its TypeScript
# types (web/src/client/schema.d.ts), and the live chat protocol (web/src/client/realtime.ts). tests/web/test_client_generated.py fails when they are out of date.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cd "$ROOT"
"$VENV/bin/python" web/scripts/dump_openapi.py
"$VENV/bin/python" web/scripts/dump_realtime.py
[ -d web/node_modules ] || (cd web && npm ci --no-audit --no-fund --loglevel=error)
(cd web && npx --no-install openapi-typescript openapi.json -o src/client/schema.d.ts)
