#!/usr/bin/env bash
# Build the executor image without any container registry:
#   (a) base image wegent-base:<suite>, made once with debootstrap from the machine's own Debian mirror and
#       `docker import`ed (the rootfs tarball is cached under .cache/ so a re-import is fast);
#   (b) a wheelhouse built on the host into .cache/wheelhouse: the executor's runtime deps plus the wegent
#       project itself (--no-deps);
#   (c) `docker build` of executor/Dockerfile on that base, from a build context assembled in a temp dir,
#       which also gets the Claude Code CLI and its Node.js (scripts/ensure_claude.sh: npm registry, cached
#       under .cache/claude) for the ClaudeCode runtime.
# Idempotent; a rebuild with nothing changed is a full layer-cache hit (our wheel is built reproducibly).
#
# Env:
#   WEGENT_EXECUTOR_IMAGE   tag of the result (default wegent-executor:latest)
#   WEGENT_BASE_IMAGE       use this base instead of the debootstrapped one (e.g. python:3.11-slim when a
#                           registry is reachable); skips step (a)
#   WEGENT_DEBIAN_MIRROR    override the mirror read from /etc/apt/sources.list{,.d/*}
#   WEGENT_DEBIAN_SUITE     override the suite (default: the machine's)
#   WEGENT_REBUILD_BASE=1   rebuild the base image and its rootfs tarball from scratch
#   WEGENT_EXECUTOR_DEPS    space-separated requirement names for the wheelhouse (default: executor/requirements.in)
#   PYTHON                  host interpreter for pip (default: the repo's .venv, else python3)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

image_tag="${WEGENT_EXECUTOR_IMAGE:-wegent-executor:latest}"
cache_dir="$repo_root/.cache"
wheelhouse="$cache_dir/wheelhouse"
deps="${WEGENT_EXECUTOR_DEPS:-$(grep -v '^[[:space:]]*#' "$(dirname "$0")/../executor/requirements.in" | xargs)}"
base_packages="python3,python3-venv,ca-certificates,git,passwd"
if [[ -n "${PYTHON:-}" ]]; then
  py="$PYTHON"
elif [[ -x "$repo_root/.venv/bin/python" ]]; then
  py="$repo_root/.venv/bin/python"
else
  py="$(command -v python3)"
fi

log() { printf '[build_executor_image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Temp dirs and mounts to undo on any exit, failure included.
cleanup_mounts=()
cleanup_paths=()
cleanup() {
  local m p
  for m in "${cleanup_mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  for p in "${cleanup_paths[@]}"; do
    # Whatever is still mounted below a rootfs (debootstrap may bind /dev or mount /proc, /sys) is
    # unmounted first, deepest first, and rm never crosses into another filesystem.
    awk -v p="$p/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$p"
  done
}
trap cleanup EXIT

mkdir -p "$cache_dir"
# One build at a time on this checkout (tests and a developer may both call this).
exec 9>"$cache_dir/build_executor_image.lock"
flock 9

"$repo_root/scripts/ensure_docker.sh" >&2
export DOCKER_BUILDKIT=0 # classic builder: works with Debian's engine without the buildx plugin

# ---------------------------------------------------------------------------------------------------------
# (a) base image
# ---------------------------------------------------------------------------------------------------------

# Print "<mirror> <suite> <security-mirror-or-empty>" from the machine's apt sources (deb822 and one-line).
read_apt_source() {
  local files=()
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  local f
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  local mirror="" suite="" security=""
  local line uris suites types
  for f in "${files[@]}"; do
    if [[ "$f" == *.sources ]]; then
      # deb822: stanzas separated by blank lines; the fields we need are single-line.
      local stanza
      while IFS= read -r -d $'\x1e' stanza; do
        types="$(sed -n 's/^Types:[[:space:]]*//p' <<<"$stanza" | head -n1)"
        uris="$(sed -n 's/^URIs:[[:space:]]*//p' <<<"$stanza" | head -n1 | awk '{print $1}')"
        suites="$(sed -n 's/^Suites:[[:space:]]*//p' <<<"$stanza" | head -n1)"
        grep -qiE '^Enabled:[[:space:]]*no' <<<"$stanza" && continue
        [[ " $types " == *" deb "* && -n "$uris" ]] || continue
        local s
        for s in $suites; do
          if [[ "$s" == *-security ]]; then
            [[ -z "$security" ]] && security="$uris"
          elif [[ "$s" != *-* && -z "$mirror" ]] && [[ "$uris" == *debian* ]]; then
            mirror="$uris"; suite="$s"
          fi
        done
      done < <(awk 'BEGIN{RS=""; ORS="\x1e"} {print}' "$f")
    else
      while read -r line; do
        line="${line%%#*}"
        [[ "$line" =~ ^deb[[:space:]] ]] || continue
        # drop an [options] block
        line="$(sed -E 's/\[[^]]*\]//' <<<"$line")"
        read -r types uris suites _ <<<"$line"
        if [[ "$suites" == *-security ]]; then
          [[ -z "$security" ]] && security="$uris"
        elif [[ "$suites" != *-* && -z "$mirror" ]] && [[ "$uris" == *debian* ]]; then
          mirror="$uris"; suite="$suites"
        fi
      done <"$f"
    fi
  done
  if [[ -z "$suite" ]]; then
    # shellcheck disable=SC1091
    suite="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
  fi
  # "-" when the machine names no Debian mirror: WEGENT_DEBIAN_MIRROR must then say which one to use.
  echo "${mirror:--} ${suite:-bookworm} ${security}"
}

read -r apt_mirror apt_suite apt_security < <(read_apt_source)
apt_mirror="${WEGENT_DEBIAN_MIRROR:-$apt_mirror}"
if [[ "$apt_mirror" == "-" && -z "${WEGENT_BASE_IMAGE:-}" ]]; then
  die "no Debian mirror in this machine's apt sources: set WEGENT_DEBIAN_MIRROR (or WEGENT_BASE_IMAGE)"
fi
apt_suite="${WEGENT_DEBIAN_SUITE:-$apt_suite}"
base_image="${WEGENT_BASE_IMAGE:-wegent-base:$apt_suite}"
rootfs_tar="$cache_dir/wegent-base-$apt_suite.tar"
rootfs_stamp="$rootfs_tar.stamp"
rootfs_key="mirror=$apt_mirror suite=$apt_suite security=$apt_security packages=$base_packages v=2"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

make_rootfs() {
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  local work
  work="$(mktemp -d "$cache_dir/rootfs.XXXXXX")"
  cleanup_paths+=("$work")
  local root="$work/root"
  log "debootstrap --variant=minbase $apt_suite from $apt_mirror (+ $base_packages)"
  debootstrap --variant=minbase --include="$base_packages" "$apt_suite" "$root" "$apt_mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

  # The image's own apt sources: the same mirror, plus -updates and -security when the machine has them.
  {
    echo "deb $apt_mirror $apt_suite main"
    echo "deb $apt_mirror $apt_suite-updates main"
    [[ -n "$apt_security" ]] && echo "deb $apt_security $apt_suite-security main"
  } >"$root/etc/apt/sources.list"
  log "applying $apt_suite-updates/-security inside the rootfs"
  mount -t proc proc "$root/proc"
  cleanup_mounts+=("$root/proc")
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade >/dev/null \
           && apt-get clean' >>"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    die "apt upgrade inside the rootfs failed"
  }
  umount "$root/proc"

  # Trim what a container never needs (docs, man pages, translations, apt lists), and keep packages that a
  # derived image installs later from bringing them back.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/* \
    "$root"/tmp/* "$root"/var/tmp/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  cat >"$root/etc/dpkg/dpkg.cfg.d/01-wegent-nodoc" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG
  # Keep a container's machine-id empty and don't carry the build host's resolver config.
  : >"$root/etc/machine-id"
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"

  log "writing $rootfs_tar"
  tar --numeric-owner --xattrs -C "$root" -cf "$rootfs_tar.tmp" .
  mv -f "$rootfs_tar.tmp" "$rootfs_tar"
  echo "$rootfs_key" >"$rootfs_stamp"
}

if [[ -n "${WEGENT_BASE_IMAGE:-}" ]]; then
  log "using base image $base_image (WEGENT_BASE_IMAGE)"
elif [[ "${WEGENT_REBUILD_BASE:-0}" != "1" ]] && image_exists "$base_image"; then
  log "base image $base_image exists"
else
  t0=$SECONDS
  if [[ "${WEGENT_REBUILD_BASE:-0}" == "1" || ! -f "$rootfs_tar" || "$(cat "$rootfs_stamp" 2>/dev/null)" != "$rootfs_key" ]]; then
    [[ "$(id -u)" -eq 0 ]] || die "making the base rootfs needs root (debootstrap, chroot)"
    make_rootfs
  else
    log "re-using cached rootfs $rootfs_tar"
  fi
  log "docker import -> $base_image"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase $apt_suite ($base_packages) from $apt_mirror" \
    "$rootfs_tar" "$base_image" >/dev/null
  log "base image ready in $((SECONDS - t0))s"
fi

base_py="$(docker run --rm --network none "$base_image" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
host_py="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$base_py" != "$host_py" ]]; then
  die "base image has Python $base_py but the host wheelhouse is built with $host_py; binary wheels would not fit"
fi

# ---------------------------------------------------------------------------------------------------------
# (b) wheelhouse
# ---------------------------------------------------------------------------------------------------------
t0=$SECONDS
mkdir -p "$wheelhouse"
ctx="$(mktemp -d "${TMPDIR:-/tmp}/wegent-executor-ctx.XXXXXX")"
cleanup_paths+=("$ctx")
mkdir -p "$ctx/wheels/deps" "$ctx/wheels/app"

# Pin the runtime deps to what the host venv runs (so the image matches what the tests ran against);
# a name the venv lacks is left unpinned.
"$py" - "$deps" >"$ctx/wheels/deps/requirements.txt" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for name in sys.argv[1].split():
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        print(name)
PY

pip_wheel() { "$py" -m pip wheel --disable-pip-version-check --quiet --prefer-binary "$@"; }
# Offline first: when the wheelhouse already holds the whole closure, no index is contacted at all.
if pip_wheel --no-index --find-links "$wheelhouse" -w "$ctx/wheels/deps" -r "$ctx/wheels/deps/requirements.txt" \
  2>/dev/null; then
  log "runtime deps resolved from the cached wheelhouse"
else
  log "fetching runtime deps from the package index"
  rm -f "$ctx"/wheels/deps/*.whl
  pip_wheel --find-links "$wheelhouse" -w "$ctx/wheels/deps" -r "$ctx/wheels/deps/requirements.txt"
fi
cp -f "$ctx"/wheels/deps/*.whl "$wheelhouse/"

# Our own wheel, from a clean copy of the tracked and untracked-but-not-ignored files (never from stale
# build/ leftovers), with a fixed SOURCE_DATE_EPOCH so unchanged sources give a byte-identical wheel.
src="$ctx/src"
mkdir -p "$src"
if git -C "$repo_root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$repo_root" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$src" -xf -
else
  tar --exclude=./.venv --exclude=./.cache --exclude=./.wegent --exclude=./.git -cf - . | tar -C "$src" -xf -
fi
[[ -f "$src/README.md" ]] || : >"$src/README.md" # pyproject's readme= must exist for the build
SOURCE_DATE_EPOCH=315532800 pip_wheel --no-deps -w "$ctx/wheels/app" "$src" >"$ctx/app-wheel.log" 2>&1 || {
  tail -n 40 "$ctx/app-wheel.log" >&2
  die "building the wegent wheel failed"
}
rm -rf "$src"
rm -f "$wheelhouse"/wegent-*.whl
cp -f "$ctx"/wheels/app/*.whl "$wheelhouse/"
dep_wheels=("$ctx"/wheels/deps/*.whl)
app_wheels=("$ctx"/wheels/app/*.whl)
log "wheelhouse ready in $((SECONDS - t0))s (${#dep_wheels[@]} dep wheels + ${app_wheels[*]##*/})"

# ---------------------------------------------------------------------------------------------------------
# (c) image
# ---------------------------------------------------------------------------------------------------------
t0=$SECONDS
cp "$repo_root/executor/Dockerfile" "$ctx/Dockerfile"
claude_tree="$("$repo_root/scripts/ensure_claude.sh" --no-link)"
# Hard links when the temp dir shares the cache's filesystem (no 140 MB copy), a copy otherwise.
cp -al "$claude_tree" "$ctx/claude-code" 2>/dev/null || { rm -rf "$ctx/claude-code"; cp -a "$claude_tree" "$ctx/claude-code"; }
previous_id="$(docker image inspect "$image_tag" --format '{{.Id}}' 2>/dev/null || true)"
log "docker build -> $image_tag (base $base_image)"
docker build --pull=false --build-arg "BASE_IMAGE=$base_image" -t "$image_tag" \
  "$ctx" >"$cache_dir/docker-build.log" 2>&1 || {
  tail -n 40 "$cache_dir/docker-build.log" >&2
  die "docker build failed (full log: $cache_dir/docker-build.log)"
}
log "image built in $((SECONDS - t0))s"
new_id="$(docker image inspect "$image_tag" --format '{{.Id}}')"
if [[ -n "$previous_id" && "$previous_id" != "$new_id" ]]; then
  # The superseded image is now untagged; drop it unless a container still uses it (then rm just fails).
  if [[ -z "$(docker image inspect "$previous_id" --format '{{join .RepoTags ","}}' 2>/dev/null)" ]]; then
    docker image rm "$previous_id" >/dev/null 2>&1 || true
  fi
fi

# Smoke check: the image's interpreter imports the executor package.
docker run --rm --network none --entrypoint /opt/venv/bin/python "$image_tag" -c 'import executor' \
  || die "the image cannot import the executor package"
docker run --rm --network none --entrypoint claude "$image_tag" --version >/dev/null \
  || die "the image's claude CLI does not run"

docker image inspect "$image_tag" --format '{{.Id}} {{.Size}}' | {
  read -r id size
  printf 'image %s id %s size %s MB\n' "$image_tag" "$id" "$((size / 1000000))"
}
