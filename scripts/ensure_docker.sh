#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io if dockerd is missing,
# start dockerd in the background if `docker info` does not answer, and wait (bounded) until it does.
# Idempotent: on a machine where the engine already answers it only prints the status line.
#
# Env:
#   WEGENT_DOCKER_WAIT_S   how long to wait for the engine to answer (default 60)
#   WEGENT_DOCKERD_LOG     dockerd log file (default /var/log/wegent-dockerd.log, or .wegent/dockerd.log
#                          under the repo when /var/log is not writable)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wait_s="${WEGENT_DOCKER_WAIT_S:-60}"

log() { printf 'ensure_docker: %s\n' "$*" >&2; }

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    log "need root for: $*"
    return 1
  fi
}

engine_answers() {
  timeout 10 docker info >/dev/null 2>&1
}

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  log "dockerd not found; installing docker.io with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
fi

if engine_answers; then
  echo "docker: engine up ($(docker version --format '{{.Server.Version}} api {{.Server.APIVersion}}' 2>/dev/null))"
  exit 0
fi

log_file="${WEGENT_DOCKERD_LOG:-}"
if [[ -z "$log_file" ]]; then
  if [[ -w /var/log ]]; then
    log_file=/var/log/wegent-dockerd.log
  else
    mkdir -p "$repo_root/.wegent"
    log_file="$repo_root/.wegent/dockerd.log"
  fi
fi

# A dockerd may already be starting (e.g. another invocation of this script, or the init system):
# only start one when no dockerd process exists.
if command -v pgrep >/dev/null 2>&1 && pgrep -x dockerd >/dev/null 2>&1; then
  log "a dockerd process exists but does not answer yet; waiting for it"
else
  log "starting dockerd in the background (log: $log_file)"
  # setsid + nohup: the daemon must outlive this script and the shell that ran it.
  as_root setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
  disown || true
fi

deadline=$((SECONDS + wait_s))
until engine_answers; do
  if ((SECONDS >= deadline)); then
    log "the engine did not answer within ${wait_s}s; last lines of $log_file:"
    tail -n 20 "$log_file" >&2 || true
    exit 1
  fi
  sleep 1
done

echo "docker: engine started ($(docker version --format '{{.Server.Version}} api {{.Server.APIVersion}}' 2>/dev/null))"
