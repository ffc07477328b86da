"""A real run through ansible-runner whose roles map to two work types: the ledger keeps its split, the
balance bills each type its share, and the parts add up to the run's raw and billed totals."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner.conftest import make_workspace

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def test_a_run_is_split_by_the_time_of_its_roles(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, str(tmp_path / "ledger.sqlite"))  # roles: update → updates, audit → maintenance
    done = ws.cli("run", "t1", "staging", "split", BXOPS_PLAYBOOKS_DIR=str(PLAYBOOKS))
    assert "succeeded" in done.stdout
    [entry] = ws.history()
    roles = entry["role_seconds"]
    assert roles["update"] >= 3 and 1 <= roles["audit"] < 3
    split = entry["work_split"]
    assert set(split) == {"updates", "maintenance"}
    assert sum(split.values()) == entry["raw_seconds"]
    # in proportion to the roles' times (within a second of the exact share)
    exact = entry["raw_seconds"] * roles["update"] / (roles["update"] + roles["audit"])
    assert abs(split["updates"] - exact) <= 1
    month = entry["month"]
    balance = json.loads(ws.cli("balance", "t1", "--month", month, "--json").stdout)
    by_type = {item["work_type"]: item for item in balance["by_work_type"]}
    assert set(by_type) == {"updates", "maintenance"}
    assert {k: v["raw_seconds"] for k, v in by_type.items()} == split
    # rounded per entry (the base contract): 15 min, shared out by the raw parts
    assert by_type["updates"]["billed_seconds"] + by_type["maintenance"]["billed_seconds"] == 900
    assert abs(by_type["updates"]["billed_seconds"] - 900 * split["updates"] / entry["raw_seconds"]) <= 1
    assert balance["used_billed_seconds"] == 900
