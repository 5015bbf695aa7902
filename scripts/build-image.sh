#!/usr/bin/env bash
# Build the grading image with podman, on a machine where no registry serves base images:
#
#   scripts/build-image.sh [cpu|gpu]        -> localhost/dl-autograded:cpu (or :gpu)
#
# 1. Installs podman, runc and debootstrap with apt when they are missing (as root).
# 2. Makes a Debian bookworm base once: `debootstrap --variant=minbase bookworm` + `podman import`,
#    tagged localhost/debian:bookworm; skipped when that image exists (REBUILD_BASE=1 redoes it).
# 3. Builds autograder/containers/Dockerfile.KIND on that base with `podman --runtime runc build`
#    and the rlimit flags these machines need, mounting the host's CA bundle and every local folder
#    pip's configuration names (find-links, file:// indexes) at the same path, so the torch wheels
#    are read from disk, never downloaded. The layers cache: a rebuild after a code change reuses
#    the wheel layer, and the GPU image reuses every layer of the CPU one.
#
# Environment: IMAGE (tag), BASE (base image tag), DEBIAN_MIRROR, PYTHON (whose pip config is read),
# PODMAN_ARGS (extra arguments for `podman build`, e.g. --no-cache). Prints the build time and size.
set -euo pipefail

kind=${1:-cpu}
case "$kind" in
  cpu|gpu) ;;
  *) echo "usage: $0 [cpu|gpu]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
image=${IMAGE:-localhost/dl-autograded:$kind}
base=${BASE:-localhost/debian:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
python=${PYTHON:-$(command -v .venv/bin/python || command -v python3)}
# The flags every podman call needs here: crun cannot run with hybrid cgroups, and podman's
# default rlimits are above what a process without CAP_SYS_RESOURCE may set.
PODMAN=(podman --runtime runc)
ULIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

# --- 1. the tools -------------------------------------------------------------------------------
missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing ${missing[*]} ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "$0: ${missing[*]} missing; run 'sudo apt-get install ${missing[*]}' first." >&2
    exit 1
  fi
fi

# --- 2. the Debian base, made once ----------------------------------------------------------------
if [ "${REBUILD_BASE:-}" = 1 ] || ! "${PODMAN[@]}" image exists "$base"; then
  rootfs=$(mktemp -d /var/tmp/debian-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "Making $base with debootstrap from $mirror ..."
  start=$SECONDS
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  # What Debian's own container image lists: the release, its updates and its security fixes.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "${PODMAN[@]}" import --quiet - "$base" >/dev/null
  echo "$base made in $((SECONDS - start)) s"
  rm -rf "$rootfs"
  trap - EXIT
fi

# --- 3. where pip finds files: the CA bundle and local wheel folders, mounted at the same path ---
mounts=()
build_args=(--build-arg "BASE_IMAGE=$base")
pip_config() { "$python" -m pip config get "$1" 2>/dev/null || true; }
cert=${PIP_CERT:-$(pip_config global.cert)}
[ -n "$cert" ] || [ ! -f /etc/ssl/certs/ca-certificates.crt ] || cert=/etc/ssl/certs/ca-certificates.crt
if [ -n "$cert" ] && [ -f "$cert" ]; then
  mounts+=(-v "$(readlink -f "$cert"):/host-ca.crt:ro")
  build_args+=(--build-arg PIP_CERT=/host-ca.crt)
fi
declare -A mounted=()
mount_dir() {  # mount a local folder read-only at its own path, once
  local dir
  dir=$(readlink -f "$1")
  [ -d "$dir" ] && [ -z "${mounted[$dir]:-}" ] || return 0
  mounted[$dir]=1
  mounts+=(-v "$dir:$dir:ro")
}
links=()
for link in ${PIP_FIND_LINKS:-} $(pip_config global.find-links); do
  path=${link#file://}
  if [ -d "$path" ]; then mount_dir "$path"; links+=("$path"); fi
done
indexes=()
for url in ${PIP_EXTRA_INDEX_URL:-} $(pip_config global.extra-index-url); do
  case "$url" in
    file://*)
      path=${url#file://}
      [ -d "$path" ] || continue
      # a PEP 503 tree's pages link to ../../files/: mount the folder above simple/
      if [ "$(basename "$path")" = simple ]; then mount_dir "$(dirname "$path")"; else mount_dir "$path"; fi ;;
  esac
  indexes+=("$url")
done
# shellcheck disable=SC2206
((${#links[@]})) && build_args+=(--build-arg "PIP_FIND_LINKS=$(printf '%s\n' "${links[@]}" | sort -u | xargs)")
((${#indexes[@]})) && build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$(printf '%s\n' "${indexes[@]}" | awk '!seen[$0]++' | xargs)")

# --- 4. the image ---------------------------------------------------------------------------------
echo "Building $image from autograder/containers/Dockerfile.$kind on $base ..."
start=$SECONDS
# shellcheck disable=SC2086
"${PODMAN[@]}" build "${ULIMITS[@]}" "${mounts[@]}" "${build_args[@]}" ${PODMAN_ARGS:-} \
  -f "autograder/containers/Dockerfile.$kind" -t "$image" .
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$image")
echo "built $image in $((SECONDS - start)) s, $(awk -v b="$size" 'BEGIN { printf "%.2f GB", b / 1e9 }')"
