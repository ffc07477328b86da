#!/usr/bin/env bash
# Copy the Bitrix site generator (tools/sitegen) into a running test-host container and run it there.
#   scripts/sitegen-into.sh CONTAINER [generator args...]
# e.g. scripts/sitegen-into.sh bx-try --seed 7 --force
# The generator runs as root with the host's /usr/bin/python3; truth.json lands where --truth says
# (default /var/lib/bxops-sitegen/truth.json inside the container).
set -euo pipefail
if [[ $# -lt 1 ]]; then
    echo "usage: $0 CONTAINER [generator args...]" >&2
    exit 2
fi
container=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/images/containers.conf}
podman exec "$container" rm -rf /opt/bxops-sitegen
podman exec "$container" mkdir -p /opt/bxops-sitegen
tar -C "$here/tools/sitegen" -h --exclude=__pycache__ --exclude='*.pyc' -cf - bxsitegen \
    | podman exec -i "$container" tar -C /opt/bxops-sitegen -xf -
exec podman exec -e PYTHONPATH=/opt/bxops-sitegen -e PYTHONDONTWRITEBYTECODE=1 "$container" \
    /usr/bin/python3 -m bxsitegen "$@"
