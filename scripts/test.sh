#!/usr/bin/env bash
# Runs every test: lint, pytest (Python code, modules, runner on SQLite and PostgreSQL, generator),
# and each molecule scenario on podman test hosts. Installs what it needs first (scripts/bootstrap.sh).
# Usage: scripts/test.sh [scenario ...]   (no argument: everything; BXOPS_TEST_PYTHON=1 runs lint and pytest
# with the scenarios given too, e.g. to time a subset like the full run: bench/test_run_like_for_like.sh)
# BXOPS_TEST_JOBS (default 3) jobs run side by side: the molecule scenarios, longest first (by the
# expected durations below; a scenario not listed there goes first, its length being unknown), and, in
# a full run, lint followed by pytest as one more job in the same pool, started with the two longest
# scenarios (BXOPS_TEST_OVERLAP=0: lint and pytest first, then the scenarios, as before).
# Logs go to var/test-logs/; the summary lists every step, and the script exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh

# Seconds each scenario took in a clean-clone CI run (2 cores, three scenarios at a time beside lint and pytest;
# update when a scenario changes much). Only the order matters here: longest first.
declare -A expected_seconds=(
  [bitrixvm_php]=660 [bitrixvm]=470 [certificates]=325 [php_upgrade]=290 [monitoring]=280 [update]=270
  [backup]=260 [permissions]=235 [bullseye]=210 [hostile]=160 [cleanup]=105 [common]=60 [audit]=50
)

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
# Longest first; scenarios without an expected duration before all others (in the order given).
longest_first() {
  local name
  for name in "$@"; do
    printf '%s %s\n' "${expected_seconds[$name]:-999999}" "$name"
  done | sort -s -k1,1nr | cut -d' ' -f2
}

scenarios=("$@")
full=false
[ "${BXOPS_TEST_PYTHON:-0}" = 1 ] && full=true
if [ ${#scenarios[@]} -eq 0 ]; then
  full=true
  for dir in molecule/*/; do
    [ -f "$dir/molecule.yml" ] && scenarios+=("$(basename "$dir")")
  done
fi
mapfile -t scenarios < <(longest_first "${scenarios[@]}")

# Lint, then pytest (with PostgreSQL for the ledger tests: a real server, started here).
python_tests() {
  local t0 rc=0
  t0=$(date +%s)
  scripts/lint.sh > "$logs/lint.log" 2>&1 || rc=$?
  echo "$rc $(( $(date +%s) - t0 ))" > "$logs/lint.rc"
  t0=$(date +%s)
  rc=0
  eval "$(scripts/start-postgres.sh)"
  python -m pytest -q -p no:cacheprovider --durations=30 tests > "$logs/pytest.log" 2>&1 || rc=$?
  echo "$rc $(( $(date +%s) - t0 ))" > "$logs/pytest.rc"
}
report_python_tests() {
  local name rc secs
  for name in lint pytest; do
    rc=1 secs=0
    [ -f "$logs/$name.rc" ] && read -r rc secs < "$logs/$name.rc"
    echo "----- $name (log: $logs/$name.log), end of its log:"
    tail -n "$([ "$rc" = 0 ] && echo 3 || echo 80)" "$logs/$name.log" 2>/dev/null || true
    if [ "$rc" = 0 ]; then record "$name" ok "$secs"; else record "$name" FAILED "$secs"; fi
  done
}

jobs_max=${BXOPS_TEST_JOBS:-3}
python_pid=
if $full; then
  rm -f "$logs/lint.rc" "$logs/pytest.rc"
  if [ "${BXOPS_TEST_OVERLAP:-1}" = 1 ] && [ "$jobs_max" -gt 1 ]; then
    echo "=== lint, pytest (logs: $logs/lint.log, $logs/pytest.log)"
    python_tests &
    python_pid=$!
  else
    echo "=== lint, pytest (logs: $logs/lint.log, $logs/pytest.log)"
    python_tests
    report_python_tests
  fi
fi

# Molecule scenarios in parallel (each has its own uniquely named test hosts).
declare -A start_of
for name in "${scenarios[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "=== molecule:$name (log: $logs/molecule-$name.log)"
  rm -f "$logs/molecule-$name.rc"
  start_of[$name]=$(date +%s)
  ( molecule test -s "$name" > "$logs/molecule-$name.log" 2>&1; echo $? > "$logs/molecule-$name.rc" ) &
done
wait
[ -n "$python_pid" ] && report_python_tests
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
