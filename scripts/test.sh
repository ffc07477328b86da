#!/usr/bin/env bash
# Runs every test: lint, pytest (Python code, modules, runner on SQLite and PostgreSQL, generator),
# and each molecule scenario on podman test hosts. Installs what it needs first (scripts/bootstrap.sh).
# Usage: scripts/test.sh [scenario ...]   (no argument: everything)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh

results=()
passed=0
failed=0
record() {  # name status seconds
  results+=("$(printf '%-28s %-6s %5ss' "$1" "$2" "$3")")
  if [ "$2" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
step() {  # name command...
  local name=$1 t0; shift
  t0=$(date +%s)
  echo "=== $name"
  if "$@"; then record "$name" ok $(( $(date +%s) - t0 )); else record "$name" FAILED $(( $(date +%s) - t0 )); fi
}

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  step lint scripts/lint.sh
  # PostgreSQL for the ledger tests: a real server, started here.
  eval "$(scripts/start-postgres.sh)"
  step pytest python -m pytest -q tests
  for dir in molecule/*/; do
    name=$(basename "$dir")
    [ -f "$dir/molecule.yml" ] && scenarios+=("$name")
  done
fi
for name in "${scenarios[@]}"; do
  step "molecule:$name" molecule test -s "$name"
done

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
