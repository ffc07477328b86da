#!/usr/bin/env bash
# The test run as it was when issue 13 was filed, timed on today's code (issue 13: "the full test run no
# slower than today's", 1261 s then on a clean clone, 2 cores): lint, the whole pytest suite and the eight
# molecule scenarios that existed then, scheduled as scripts/test.sh schedules a full run. The scenarios added
# since (monitoring, hostile, bullseye, bitrixvm, bitrixvm_php) are left out; pytest is today's (five times the
# tests it had). Prints test.sh's summary and the whole wall time.
# Usage, from the project root: bash bench/test_run_like_for_like.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
rc=0
BXOPS_TEST_PYTHON=1 bash scripts/test.sh audit backup certificates cleanup common permissions php_upgrade update || rc=$?
echo "like-for-like run (lint, pytest, the 8 scenarios of issue 13's filing): $(( $(date +%s) - start )) s, rc $rc"
exit "$rc"
