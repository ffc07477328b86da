#!/usr/bin/env bash
# Runs every test: lint, pytest (Python code, modules, runner on SQLite and PostgreSQL, generator),
# and each molecule scenario on podman test hosts. Installs what it needs first (scripts/bootstrap.sh).
# Usage: scripts/test.sh [scenario ...]   (no argument: everything)
# BXOPS_TEST_JOBS (default 3) molecule scenarios run side by side; their logs go to var/test-logs/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh

logs=var/test-logs
mkdir -p "$logs"
results=()
failed_names=()
passed=0
failed=0
record() {  # name status seconds
  results+=("$(printf '%-28s %-6s %5ss' "$1" "$2" "$3")")
  if [ "$2" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$1"); fi
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
  step pytest python -m pytest -q -p no:cacheprovider tests
  for dir in molecule/*/; do
    [ -f "$dir/molecule.yml" ] && scenarios+=("$(basename "$dir")")
  done
fi

# Molecule scenarios in parallel (each has its own uniquely named test hosts).
jobs_max=${BXOPS_TEST_JOBS:-3}
declare -A pid_of start_of
for name in "${scenarios[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "=== molecule:$name (log: $logs/molecule-$name.log)"
  start_of[$name]=$(date +%s)
  ( molecule test -s "$name" > "$logs/molecule-$name.log" 2>&1; echo $? > "$logs/molecule-$name.rc" ) &
  pid_of[$name]=$!
done
wait
for name in "${scenarios[@]}"; do
  rc=$(cat "$logs/molecule-$name.rc" 2>/dev/null || echo 1)
  elapsed=$(( $(stat -c %Y "$logs/molecule-$name.rc" 2>/dev/null || date +%s) - start_of[$name] ))
  if [ "$rc" = 0 ]; then record "molecule:$name" ok "$elapsed"; else
    record "molecule:$name" FAILED "$elapsed"
    echo "----- molecule:$name failed; end of its log:"; tail -n 80 "$logs/molecule-$name.log"
  fi
done

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
