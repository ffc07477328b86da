#!/usr/bin/env bash
# Installs what bxops needs on a fresh Debian 12 machine (as root): apt packages, the project's
# virtualenv, and the test-host images. Safe to re-run: each step is skipped when already done.
# Source it (`. scripts/bootstrap.sh`) to get PATH and CONTAINERS_CONF set in your shell.
set -euo pipefail

BXOPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export BXOPS_ROOT
export CONTAINERS_CONF="$BXOPS_ROOT/images/containers.conf"

bxops_apt_packages=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs conmon catatonit
  python3 python3-venv python3-dev gcc postgresql curl ca-certificates git openssh-client openssh-server
  fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils  # report: PDF, Cyrillic fonts
  chromium chromium-driver)  # serve: the balance page checked in a real headless browser

bxops_install_apt() {
  local missing=()
  for pkg in "${bxops_apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bxops: installing apt packages: ${missing[*]}"
  # Third-party sources on some machines are unreachable; Debian's own must work.
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pyproject.toml's dependencies with the test extras, one per line (system python3: tomllib, 3.11).
bxops_requirements() {
  python3 - "$BXOPS_ROOT/pyproject.toml" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as handle:
    project = tomllib.load(handle)["project"]
print("\n".join(project["dependencies"] + project.get("optional-dependencies", {}).get("test", [])))
PY
}

bxops_install_venv() {
  # Keyed by the dependency list (not by the rest of pyproject.toml) and kept outside the checkout, so a
  # fresh clone (CI) reuses the virtualenv an unchanged list built.
  local requirements
  requirements=$(bxops_requirements)
  BXOPS_VENV="${BXOPS_VENV:-/var/cache/bxops/venv-$(printf '%s\n' "$requirements" | sha256sum | cut -c1-12)}"
  export BXOPS_VENV
  local stamp="$BXOPS_VENV/.bxops-deps-installed"
  if [ ! -f "$stamp" ]; then
    echo "bxops: preparing the virtualenv in $BXOPS_VENV"
    mkdir -p "$(dirname "$BXOPS_VENV")"
    [ -x "$BXOPS_VENV/bin/python" ] || python3 -m venv "$BXOPS_VENV"
    "$BXOPS_VENV/bin/pip" install -q --upgrade pip >/dev/null
    # The dependencies only (pyproject.toml's, with the test extras): the venv is shared by every
    # checkout on this machine, so no checkout is installed into it. runner.py, the tests (their
    # conftest), mypy and Ansible's callback path all take bxops from their own checkout.
    printf '%s\n' "$requirements" >"$BXOPS_VENV/.bxops-requirements.txt"
    "$BXOPS_VENV/bin/pip" install -q -r "$BXOPS_VENV/.bxops-requirements.txt"
    touch "$stamp"
  fi
  # An earlier bootstrap installed the checkout that ran it into the shared venv (editable), so every
  # other clone silently ran that checkout's code: take it out.
  if compgen -G "$BXOPS_VENV/lib/python3*/site-packages/bxops-*.dist-info" >/dev/null \
    || compgen -G "$BXOPS_VENV/lib/python3*/site-packages/__editable__*bxops*" >/dev/null; then
    echo "bxops: removing the checkout installed into the shared virtualenv (each checkout uses its own)"
    "$BXOPS_VENV/bin/pip" uninstall -y -q bxops >/dev/null
  fi
}

# promtool (rule unit tests, tests/monitoring_rules/) from Debian's prometheus package, unpacked into the
# cache without installing the package: no daemon is started on the machine running the tests.
BXOPS_PROMTOOL_DIR="${BXOPS_PROMTOOL_DIR:-/var/cache/bxops/promtool}"
export BXOPS_PROMTOOL="$BXOPS_PROMTOOL_DIR/usr/bin/promtool"
bxops_install_promtool() {
  [ -x "$BXOPS_PROMTOOL" ] && return 0
  echo "bxops: unpacking promtool from the prometheus package into $BXOPS_PROMTOOL_DIR"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 \
     || { apt-get update -qq || true; apt-get download prometheus >/dev/null; }; })
  mkdir -p "$BXOPS_PROMTOOL_DIR"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$BXOPS_PROMTOOL_DIR"
  rm -rf "$tmp"
  "$BXOPS_PROMTOOL" --version >/dev/null
}

bxops_install_apt
bxops_install_venv
bxops_install_promtool
export PATH="$BXOPS_VENV/bin:$PATH"
"$BXOPS_ROOT/scripts/build-image.sh" bitrix-host bullseye-host bitrixvm-host
