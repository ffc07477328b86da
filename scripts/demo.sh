#!/usr/bin/env bash
# The main job on the embedded default: starts the demo client's two hosts (local podman test hosts
# with generated Bitrix sites), runs the monthly maintenance on staging then production through
# runner.py (so the hours land in the ledger), and prints the demo client's balance.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh

ansible-playbook -i inventories/demo playbooks/demo_up.yml
for env in staging production; do
  ./runner.py run demo "$env" maintenance --note "monthly maintenance (demo)"
done
./runner.py balance demo

# The demo's monthly report (this month, in the client's zone), in Russian: HTML and PDF.
echo "bxops: the demo's monthly report:"
./runner.py report demo --format html,pdf --lang ru
