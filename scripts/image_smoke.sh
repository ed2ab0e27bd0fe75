#!/usr/bin/env bash
# Build the container image with podman (a local Debian base made by debootstrap, --format docker so the
# HEALTHCHECK is kept) and smoke-test it as a deploying engineer would. `podman run` does not work on these
# machines (docs/TESTING.md), so the image's root folder (`podman image mount`) is entered with chroot, as
# the image's user, with its Env, Entrypoint and WorkingDir, a mounted config and a state volume:
#   --version; `migrate` between two SQLite stores, the config found through the image's MLFLOW_SYNCER_CONFIG
#   (state on the /state volume from the image's defaults); `mirror --once`; the default command (the mirror
#   service) with the port the mounted config names, and the image's HEALTHCHECK against it; the image size.
# Where podman or debootstrap cannot be had, says so and exits 0 (never fails the suite for lack of them).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${IMAGE_WORK:-/tmp/mlflow-syncer-image}
BASE=localhost/mlflow-syncer-base:bookworm
IMAGE=localhost/mlflow-syncer:smoke
say() { echo "image_smoke: $*" >&2; }

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman debootstrap >/dev/null) \
      || true
  fi
  if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    say "skipped: podman and debootstrap are not installed and cannot be"; exit 0
  fi
fi
mkdir -p "$WORK"
if ! podman image exists "$BASE"; then
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
    bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1
  cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\nbreak-system-packages = true\n' >"$WORK/rootfs/etc/pip.conf"  # Debian's pip, base only
  tar -C "$WORK/rootfs" -c . | podman import - "$BASE" >/dev/null
fi
start=$(date +%s)
podman build --isolation=chroot --pull=never --format docker --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE" . \
  >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; say "build failed"; exit 1; }
say "built $IMAGE in $(( $(date +%s) - start )) s, $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"

exec "$(pwd)/.venv/bin/python" scripts/image_chroot.py "$IMAGE" "$WORK"
