"""The runner's per-site detail: a recorded event stream (fixtures/two_sites_events.json, written by hand)
of an update over two hosts, web1 with sites main (ok) and shop (failed), web2 with its one site."""

from __future__ import annotations

import json
from pathlib import Path

from bxops.accounted_run import audit_data
from bxops.playbook_events import EventRecorder
from bxops.reports import site_outcomes

EVENTS = json.loads((Path(__file__).parent / "fixtures" / "two_sites_events.json").read_text())


def recorded() -> EventRecorder:
    recorder = EventRecorder()
    for event in EVENTS:
        recorder.handle(event)
    return recorder


def test_each_hosts_sites_from_the_loops_result_fact() -> None:
    sites = recorded().sites()
    assert sites == {
        "web1": [
            {"name": "main", "docroot": "/home/bitrix/www", "status": "ok", "message": ""},
            {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.bxops.test", "status": "failed",
             "message": "mysql://shop:***@db/shop refused; smoke test failed: status / : 500"},
        ],
        "web2": [{"name": "default", "docroot": "/home/bitrix/www", "status": "ok", "message": ""}],
    }


def test_run_still_failed_and_names_the_failed_task() -> None:
    recorder = recorded()
    assert recorder.failed()
    assert [f["task"] for f in recorder.failures()] == ["Check the smoke test", "Fail when a site failed"]


def test_sites_go_into_the_ledgers_audit_data() -> None:
    data = audit_data({}, {}, recorded().sites())
    assert list(data) == ["sites"]
    assert [s["status"] for s in data["sites"]["web1"]] == ["ok", "failed"]
    assert audit_data({"x": 1}, {}, {}) == {"x": 1}


def test_history_names_every_site_and_its_outcome() -> None:
    data = audit_data({}, {}, recorded().sites())
    assert site_outcomes(data) == ["web1 main: ok", "web1 shop: failed", "web2 default: ok"]
    assert site_outcomes({}) == []


def test_playbooks_through_the_loop_still_name_their_role() -> None:
    """The work type comes from the roles a playbook names: the loop's bxops_site_role counts."""
    from bxops.playbook_roles import playbook_roles

    project = Path(__file__).resolve().parents[2]
    assert playbook_roles(project / "playbooks" / "update.yml") == ["common", "update"]
    assert playbook_roles(project / "playbooks" / "audit.yml") == ["common", "audit"]
    assert playbook_roles(project / "playbooks" / "backup.yml") == ["common", "backup"]
