#!/usr/bin/env bash
# Build the web app (web/) into the Python package (api/web_dist/), which `wegent api` / `wegent up` serve at /.
# Idempotent: installs Node.js and npm with apt when missing, runs `npm ci` when node_modules is missing or
# older than package-lock.json, and builds only when the output is missing or older than the sources.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WEB="$ROOT/web"
OUT="$ROOT/api/web_dist/index.html"

if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

stamp="$WEB/node_modules/.package-lock.json" # npm writes it at every install
if [ ! -f "$stamp" ] || [ "$WEB/package-lock.json" -nt "$stamp" ]; then
  say "installing the web app's packages (npm ci)"
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
fi

newer_sources() {
  [ ! -f "$OUT" ] && return 0
  [ -n "$(find "$WEB/src" "$WEB/index.html" "$WEB/vite.config.ts" "$WEB/package-lock.json" \
    "$WEB"/tsconfig*.json -newer "$OUT" -print -quit)" ]
}

if [ "${1:-}" = "--force" ] || newer_sources; then
  say "building the web app"
  (cd "$WEB" && npm run --silent build >/dev/null)
  touch "$OUT"
fi
