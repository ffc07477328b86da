#!/usr/bin/env bash
# Builds the local test-host image (a BitrixVM-like Debian 12 host) without any container
# registry: a debootstrap root filesystem imported into podman, then the Containerfile on top.
# Rebuilds only when the recipe changes: the image tag is a hash of everything it is built from.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/images/containers.conf}"
mirror="${BXOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base_image="localhost/bxops-debian-base:bookworm"
image_name="localhost/bxops-bitrix-host"

recipe_hash=$(
  cd "$root" && { find images/bitrix-host images/containers.conf scripts/build-image.sh -type f -print0 \
    | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-12
)
image="$image_name:$recipe_hash"

if podman image exists "$image"; then
  podman tag "$image" "$image_name:current"
  echo "bxops: test-host image $image is up to date"
  exit 0
fi

started=$(date +%s)
if ! podman image exists "$base_image"; then
  echo "bxops: building the Debian 12 base with debootstrap from $mirror"
  rootfs=$(mktemp -d /var/tmp/bxops-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
  tar -C "$rootfs" -c . | podman import - "$base_image" >/dev/null
fi

echo "bxops: building $image"
podman build --network host --build-arg "BASE_IMAGE=$base_image" \
  -t "$image" -t "$image_name:current" "$root/images/bitrix-host"
echo "bxops: test-host image built in $(( $(date +%s) - started )) s"
