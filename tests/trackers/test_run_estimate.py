"""`runner.py run … --ticket KEY` puts the run's estimate on the ticket before Ansible starts when the
contract says so (the offer: "an effort estimate before work begins"); without the token it refuses
before anything is written (issue 15)."""

from __future__ import annotations

from pathlib import Path

from .conftest import CLIENT, make, workspace_for


def test_estimate_set_before_the_run(tmp_path: Path) -> None:
    setup = make("jira")
    try:
        ws = workspace_for(tmp_path, setup)
        issue = setup.fake.add_issue("OPS-7")
        done = ws.cli("run", CLIENT, "staging", "tiny", "--ticket", "OPS-7", process=True)
        # no earlier run: the estimate is the contract's minimum, 15 minutes (rounding up to 15)
        assert issue.estimate_seconds == 900
        assert "estimate 15 min set on jira ticket OPS-7" in done.stderr
        (put,) = [entry for entry in setup.fake.log if entry.method == "PUT"]
        assert put.path == "/rest/api/2/issue/OPS-7"
        assert put.body == {"fields": {"timetracking": {"originalEstimate": "15m"}}}
    finally:
        setup.fake.stop()


def test_run_without_the_token_is_refused_before_anything(tmp_path: Path) -> None:
    setup = make("bitrix24")
    try:
        ws = workspace_for(tmp_path, setup)
        done = ws.cli("run", CLIENT, "staging", "tiny", "--ticket", "101", check=False, token=False, process=True)
        assert done.returncode == 1
        assert "bxops: error: client 'acme': no token for its bitrix24 tracker: set $ACME_TRACKER_TOKEN" in done.stderr
        assert not ws.ledger.exists() and setup.fake.log == []
    finally:
        setup.fake.stop()


def test_tracker_refusal_is_a_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    setup = make("jira")
    try:
        ws = workspace_for(tmp_path, setup)  # OPS-404 does not exist on the tracker
        done = ws.cli("run", CLIENT, "staging", "tiny", "--ticket", "OPS-404", process=True)
        assert "warning: estimate not set on the ticket: acme jira ticket OPS-404: not found (HTTP 404)" in done.stderr
        assert "jira-pat-123" not in done.stderr + done.stdout
    finally:
        setup.fake.stop()


def test_run_pushes_its_worklog_at_the_end_when_the_contract_says_so(tmp_path: Path) -> None:
    setup = make("bitrix24")
    setup.terms = setup.terms.model_copy(update={"sync_after_run": True})
    try:
        ws = workspace_for(tmp_path, setup)
        issue = setup.fake.add_issue("101")
        done = ws.cli("run", CLIENT, "staging", "tiny", "--ticket", "101", process=True)
        assert "worklog of run #1 pushed to the bitrix24 ticket" in done.stderr
        (worklog,) = issue.worklogs.values()
        assert worklog["comment"] == "tiny on staging [bxops #1]"
        assert worklog["seconds"] >= 60
        report = ws.sync()  # a later sync finds it pushed already
        assert (report["pushed"], report["unchanged"]) == ([], 1)
    finally:
        setup.fake.stop()
