#!/usr/bin/env bash
# The main job on the embedded default: starts the demo client's two hosts (local podman test hosts
# with generated Bitrix sites) and the agency's monitor, runs the monthly maintenance on staging then
# production through runner.py (so the hours land in the ledger), prints the demo client's balance,
# then sets up monitoring (exporters + collector on both hosts, Prometheus/Alertmanager on the monitor)
# and shows the monitor's targets.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh

ansible-playbook -i inventories/demo playbooks/demo_up.yml
for env in staging production; do
  ./runner.py run demo "$env" maintenance --note "monthly maintenance (demo)"
done
./runner.py balance demo

for env in staging production; do
  ansible-playbook -i inventories/demo playbooks/monitoring.yml -e "bxops_env=$env"
done
# Every target up (exporters of both hosts, probes of both sites), as Prometheus on localhost reports it.
python3 - <<'PY'
import json
import sys
import time
import urllib.request

deadline = time.monotonic() + 120
while True:
    with urllib.request.urlopen("http://127.0.0.1:9090/api/v1/targets", timeout=10) as answer:
        targets = json.load(answer)["data"]["activeTargets"]
    if targets and all(t["health"] == "up" for t in targets) or time.monotonic() > deadline:
        break
    time.sleep(3)
print("Monitor: Prometheus http://127.0.0.1:9090  Alertmanager http://127.0.0.1:9093")
for t in sorted(targets, key=lambda t: (t["labels"]["environment"], t["labels"]["job"], t["labels"]["instance"])):
    print(f"  {t['health']:5} {t['labels']['environment']:10} {t['labels']['job']:9} {t['labels']['instance']}")
down = [t for t in targets if t["health"] != "up"]
if down or not targets:
    sys.exit(f"monitor: {len(down)} of {len(targets)} targets not up")
PY

# The demo's monthly report (this month, in the client's zone), in Russian: HTML and PDF.
echo "bxops: the demo's monthly report:"
./runner.py report demo --format html,pdf --lang ru

# The demo's living project docs (README, integrations, the site's own code) from the audits the maintenance
# runs stored (each run already rewrote them; this prints where they are).
echo "bxops: the demo's project docs:"
./runner.py docs demo
