#!/usr/bin/env bash
# Runs every test: lint, pytest (Python code, modules, runner on SQLite and PostgreSQL, generator),
# and each molecule scenario on podman test hosts. Installs what it needs first (scripts/bootstrap.sh).
# Usage: scripts/test.sh [scenario ...]   (no argument: everything; BXOPS_TEST_PYTHON=1 runs lint and pytest
# with the scenarios given too, e.g. to time a subset like the full run: bench/test_run_like_for_like.sh)
# BXOPS_TEST_JOBS (default 3; on 2 cores 4 is slower: 1337 s against 1274 s) jobs run side by side: the molecule scenarios, longest first (by the
# expected durations below; a scenario not listed there goes first, its length being unknown), and, in
# a full run, lint followed by pytest as one more job in the same pool, started with the two longest
# scenarios (BXOPS_TEST_OVERLAP=0: lint and pytest first, then the scenarios, as before).
# Logs go to var/test-logs/; the summary lists every step, and the script exits non-zero on any failure.
# A job that runs far past its expected time has hung (see time_limit): it is stopped with its whole process
# tree, its log kept as <job>.hung.log, and a molecule scenario is run once more (its first step destroys
# what the hung run left); the summary says so. pytest stops a hung test itself (pyproject.toml: timeout).
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
suite_start=$(date +%s)
# Seconds after which a job counts as hung: three times its expected duration, at least 20 minutes.
time_limit() {
  local expected=${expected_seconds[$1]:-600}
  [ -n "${BXOPS_TEST_TIME_LIMIT:-}" ] && { echo "$BXOPS_TEST_TIME_LIMIT"; return; }  # to try the watchdog
  echo $(( expected * 3 > 1200 ? expected * 3 : 1200 ))
}
# Runs a command under a time limit (timeout(1) signals its whole process group: ansible's workers, podman exec).
# Exit status 124 or 137: it was stopped.
limited() {  # seconds command...
  local seconds=$1; shift
  timeout --kill-after=60 "$seconds" "$@" < /dev/null
}
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
  limited 900 scripts/lint.sh > "$logs/lint.log" 2>&1 || rc=$?
  echo "$rc $(( $(date +%s) - t0 ))" > "$logs/lint.rc"
  t0=$(date +%s)
  rc=0
  eval "$(scripts/start-postgres.sh)"
  limited 3600 python -m pytest -q -p no:cacheprovider --durations=30 tests > "$logs/pytest.log" 2>&1 || rc=$?
  echo "$rc $(( $(date +%s) - t0 ))" > "$logs/pytest.rc"
}
report_python_tests() {
  local name rc secs
  for name in lint pytest; do
    rc=1 secs=0
    [ -f "$logs/$name.rc" ] && read -r rc secs < "$logs/$name.rc"
    echo "----- $name (log: $logs/$name.log), end of its log:"
    tail -n "$([ "$rc" = 0 ] && echo 3 || echo 80)" "$logs/$name.log" 2>/dev/null || true
    case $rc in
      0) record "$name" ok "$secs" ;;
      124|137) record "$name" HUNG "$secs" ;;
      *) record "$name" FAILED "$secs" ;;
    esac
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

# One molecule scenario; a hung run is stopped and the scenario run once more while the suite has time for it.
run_scenario() {  # name
  local name=$1 log="$logs/molecule-$1.log" rc=0 limit
  limit=$(time_limit "$name")
  rm -f "$logs/molecule-$name.hung.log"
  limited "$limit" molecule test -s "$name" > "$log" 2>&1 || rc=$?
  if { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && [ $(( $(date +%s) - suite_start )) -lt 3000 ]; then
    mv "$log" "$logs/molecule-$name.hung.log"
    rc=0
    limited "$limit" molecule test -s "$name" > "$log" 2>&1 || rc=$?
  fi
  echo "$rc" > "$logs/molecule-$name.rc"
}

# Every ten minutes, the jobs still running and the last line of each one's log: if CI stops the whole run
# at its time limit, its output still says which job was where.
heartbeat() {
  local log name
  while sleep 600 > /dev/null 2>&1; do  # the sleep left behind at exit holds none of our output open
    echo "--- $(( $(date +%s) - suite_start )) s in; running:"
    for log in "$logs"/pytest.log "$logs"/molecule-*.log; do
      name=$(basename "$log" .log)
      case $name in *.hung) continue ;; esac
      [ -f "$logs/$name.rc" ] && continue
      [ -f "$log" ] && echo "    $name: $(tail -n 1 "$log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-150)"
    done
  done
}
heartbeat &
heartbeat_pid=$!
disown "$heartbeat_pid"  # not one of the jobs waited for below
trap 'kill "$heartbeat_pid" 2>/dev/null || true' EXIT

# Molecule scenarios in parallel (each has its own uniquely named test hosts).
declare -A start_of
for name in "${scenarios[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "=== molecule:$name (log: $logs/molecule-$name.log)"
  rm -f "$logs/molecule-$name.rc"
  start_of[$name]=$(date +%s)
  run_scenario "$name" &
done
wait
[ -n "$python_pid" ] && report_python_tests
for name in "${scenarios[@]}"; do
  rc=$(cat "$logs/molecule-$name.rc" 2>/dev/null || echo 1)
  elapsed=$(( $(stat -c %Y "$logs/molecule-$name.rc" 2>/dev/null || date +%s) - start_of[$name] ))
  if [ -f "$logs/molecule-$name.hung.log" ]; then
    echo "----- molecule:$name hung (stopped after $(time_limit "$name") s) and was run again; end of the hung run's log:"
    tail -n 40 "$logs/molecule-$name.hung.log"
  fi
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    record "molecule:$name" HUNG "$elapsed"
    echo "----- molecule:$name hung (stopped after $(time_limit "$name") s); end of its log:"
    tail -n 80 "$logs/molecule-$name.log"
  elif [ "$rc" = 0 ]; then
    if [ -f "$logs/molecule-$name.hung.log" ]; then record "molecule:$name (2nd run)" ok "$elapsed"
    else record "molecule:$name" ok "$elapsed"; fi
  else
    record "molecule:$name" FAILED "$elapsed"
    echo "----- molecule:$name failed; end of its log:"; tail -n 80 "$logs/molecule-$name.log"
  fi
done

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
