#!/usr/bin/env bash
# Usage: scripts/build-image.sh [FLAVOUR...]   (default: bitrix-host)
# Builds local test-host images without any container registry: a debootstrap root filesystem of
# the flavour's Debian release imported into podman, then images/FLAVOUR/Containerfile on top.
# A flavour's release is in images/FLAVOUR/release (default bookworm). Rebuilds only when the recipe
# changes: the image tag is a hash of everything the flavour is built from; FLAVOUR:current names it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/images/containers.conf}"
mirror="${BXOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

build_flavour() {
  local flavour=$1 release=bookworm recipe="images/$1"
  [ -f "$root/$recipe/Containerfile" ] || { echo "bxops: no image recipe $recipe/Containerfile" >&2; return 2; }
  [ -f "$root/$recipe/release" ] && release=$(tr -d '[:space:]' < "$root/$recipe/release")
  local base_image="localhost/bxops-debian-base:$release" image_name="localhost/bxops-$flavour"
  local recipe_hash image started rootfs
  recipe_hash=$(
    cd "$root" && { find "$recipe" images/containers.conf scripts/build-image.sh -type f -print0 \
      | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-12
  )
  image="$image_name:$recipe_hash"
  if podman image exists "$image"; then
    podman tag "$image" "$image_name:current"
    echo "bxops: test-host image $image is up to date"
    return 0
  fi
  started=$(date +%s)
  if ! podman image exists "$base_image"; then
    echo "bxops: building the Debian $release base with debootstrap from $mirror"
    rootfs=$(mktemp -d /var/tmp/bxops-rootfs.XXXXXX)
    debootstrap --variant=minbase "$release" "$rootfs" "$mirror" >/dev/null
    tar -C "$rootfs" -c . | podman import - "$base_image" >/dev/null
    rm -rf "$rootfs"
  fi
  echo "bxops: building $image"
  podman build --network host --build-arg "BASE_IMAGE=$base_image" \
    -t "$image" -t "$image_name:current" "$root/$recipe"
  echo "bxops: test-host image $flavour built in $(( $(date +%s) - started )) s"
}

[ $# -gt 0 ] || set -- bitrix-host
for flavour in "$@"; do
  build_flavour "$flavour"
done
