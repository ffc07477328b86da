"""Debian 11 with its own Python 3.9: audit, cleanup, permissions and backup ran there for real (converge,
side_effect) and did what the generator's truth.json says they owe the site."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import PROJECT, ephemeral, truth

HOSTNAME = "bxops-bullseye-host"
TEST_DIR = "/var/lib/bxops-test"
DOCROOT = "/home/bitrix/www"
QUARANTINE = "/var/lib/bxops/quarantine"
STATUS = "/var/lib/bxops-status/backup-home_bitrix_www.json"
# The categories converge.yml asks for (resize_cache is opt-in and not asked for).
CATEGORIES = ["cache", "managed_cache", "stack_cache", "managed_flags", "cache_image", "bitrix_tmp", "html_pages",
              "upload_tmp", "backups", "logs"]  # fmt: skip


@pytest.fixture(scope="module")
def planted() -> dict[str, Any]:
    return truth(HOSTNAME)


def _json(host, name: str) -> Any:
    return json.loads(host.file(f"{TEST_DIR}/{name}").content_string)


def _listing(host, name: str) -> set[str]:
    return set(host.file(f"{TEST_DIR}/{name}").content_string.splitlines())


@pytest.fixture(scope="module")
def before(host) -> set[str]:
    return _listing(host, "before-cleanup.txt")


@pytest.fixture(scope="module")
def after(host) -> set[str]:
    return _listing(host, "after-cleanup.txt")


@pytest.fixture(scope="module")
def results(host) -> dict[str, Any]:
    return _json(host, "results.json")


# ---------------------------------------------------------------- the host


def test_the_modules_ran_on_debian_11_s_python_3_9(host):
    python = _json(host, "python.json")
    assert python["version"]["major"] == 3 and python["version"]["minor"] == 9
    assert python["executable"] in ("/usr/bin/python3", "/usr/bin/python3.9")  # Debian's own, not a build
    assert (python["os_family"], python["release"]) == ("Debian", "bullseye")
    assert host.run("python3 --version").stdout.startswith("Python 3.9.")


# ---------------------------------------------------------------- audit


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """The first audit: the site as the generator left it."""
    return json.loads((ephemeral() / "reports" / HOSTNAME / "audit-first.json").read_text())


@pytest.fixture(scope="module")
def second_report() -> dict[str, Any]:
    """The idempotence run's audit: after the first run's cleanup and permission fixes."""
    return json.loads((ephemeral() / "reports" / HOSTNAME / "audit-latest.json").read_text())


def test_audit_report_written_and_follows_its_schema(report):
    schema = json.loads((PROJECT / "roles/audit/files/audit-report.schema.json").read_text())
    jsonschema.validate(report, schema)


def test_audit_finds_the_planted_core_modules_and_orphans(report, planted):
    assert (report["core"]["version"], report["core"]["date"]) == (planted["core"]["version"],
                                                                   planted["core"]["date"])
    assert set(report["modules"]) == set(planted["modules"])
    for module_id, expected in planted["modules"].items():
        assert report["modules"][module_id]["version"] == expected["version"], module_id
    estimate = report["uploads"]["orphan_estimate"]
    assert (estimate["files"], estimate["bytes"]) == (planted["uploads"]["orphan_count"],
                                                      planted["uploads"]["orphan_bytes"])
    for rel, expected in planted["disposable"].items():
        got = report["disposable"][rel]
        assert (got["files"], got["bytes"]) == (expected["files"], expected["bytes"]), rel


def test_audit_names_the_planted_security_problems_and_the_serving_php(report, planted):
    by_id = {f["id"]: f for f in report["security"]["findings"]}
    assert by_id["leftover-installer-files"]["paths"] == sorted(planted["security"]["leftover_files"])
    assert by_id["config-readable-by-others"]["paths"] == sorted(planted["security"]["readable_configs"])
    cves = {f["id"] for f in report["security"]["findings"] if f["severity"] == "critical"}
    assert {v["cve"] for v in planted["vulnerable_modules"]} <= cves
    assert report["php"]["serving"]["version"] == "7.4"  # bullseye's own php7.4-fpm


def test_the_second_audit_sees_the_cleanup_and_the_permission_fixes(second_report, planted):
    estimate = second_report["uploads"]["orphan_estimate"]
    young = set(planted["cleanup"]["orphans"]["young"])
    assert estimate["files"] == len(young)  # the old orphans are in quarantine
    assert set(estimate["sample"]) <= young
    ids = {f["id"] for f in second_report["security"]["findings"]}
    assert "config-readable-by-others" not in ids and "world-writable-code" not in ids


# ---------------------------------------------------------------- cleanup


@pytest.mark.parametrize("name", CATEGORIES)
def test_cleanup_removed_what_truth_says_and_kept_the_rest(before, after, planted, name):
    fates = planted["cleanup"]["categories"][name]
    assert fates["remove"] or fates["keep"], f"truth.json plants nothing for {name}"
    for rel in fates["remove"]:
        assert rel in before, f"{name}: {rel} was not there before the cleanup: the test proves nothing"
        assert rel not in after, f"{name}: {rel} should be gone"
    for rel in fates["keep"]:
        assert rel in after, f"{name}: {rel} must stay"


def test_cleanup_left_folders_no_category_owns(after, planted):
    assert planted["cleanup"]["untouched"]
    assert set(planted["cleanup"]["untouched"]) <= after


def test_old_orphans_went_to_quarantine_young_ones_stayed(host, before, after, planted):
    run = _json(host, "cleanup.json")
    old = planted["cleanup"]["orphans"]["quarantine"]
    young = planted["cleanup"]["orphans"]["young"]
    assert run["orphans"]["orphans"]["count"] == planted["uploads"]["orphan_count"]
    assert run["orphans"]["quarantined"]["files"] == len(old)
    batch = f"{QUARANTINE}/{run['orphans']['quarantined']['batch']}"
    manifest = [json.loads(line) for line in host.file(f"{batch}/manifest.jsonl").content_string.splitlines()]
    assert sorted(entry["path"] for entry in manifest) == sorted(old)
    in_quarantine = set(host.check_output(f"find {batch}/files -type f -printf '%P\\n'").splitlines())
    for rel in old:
        assert rel in before and rel not in after, rel
        assert rel in in_quarantine, rel
    assert set(young) <= after
    # everything else in the uploads stays: only the old orphans and upload/tmp's expired files may go
    kept = {rel for rel in before if rel.startswith("upload/") and not rel.startswith("upload/tmp/")} - set(old)
    assert sorted(kept - after) == []
    named = planted["uploads"]["content_referenced"] + [d["path"] for d in planted["uploads"]["duplicates"]]
    assert named and set(named) <= after


# ---------------------------------------------------------------- permissions


def test_permissions_fixed_each_planted_deviation(host, planted):
    fix = _json(host, "permissions.json")
    deviations = planted["permissions"]["deviations"]
    assert fix["error_count"] == 0, fix.get("errors")
    assert fix["counts"] == planted["permissions"]["counts"]
    for kind in ("owner", "group", "mode", "world_writable", "secret"):
        assert sorted(fix["samples"][kind]) == sorted(d["path"] for d in deviations if kind in d["kinds"]), kind
    # owner, group and mode of every planted entry in one call: "path|owner|group|octal mode" per line
    paths = " ".join(f"'{dev['path']}'" for dev in deviations)
    out = host.check_output(f"cd {DOCROOT} && stat -c '%n|%U|%G|%a' -- {paths}")
    now = {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines()}
    for dev in deviations:
        after = dev["after"]
        owner, group, mode = now[dev["path"]]
        assert (owner, group, int(mode, 8)) == (after["owner"], after["group"], int(after["mode"], 8)), dev["path"]


def test_nothing_is_world_writable_or_foreign(host, planted):
    user = planted["site_user"]
    assert host.check_output(f"find {DOCROOT} ! -type l -perm -o+w -print") == ""
    # upload/tmp is disposable: the restore leaves it alone, with the root-owned file side_effect put there
    foreign = f"find {DOCROOT} -path {DOCROOT}/upload/tmp -prune -o \\( ! -user {user} -o ! -group {user} \\) -print"
    assert host.check_output(foreign) == ""


# ---------------------------------------------------------------- backup


def test_the_damage_was_real_and_the_restore_undid_it(host, results):
    pre, mutated, post = (_json(host, n) for n in ("pre-backup.json", "mutated.json", "post-restore.json"))
    assert results["mutate"]["deleted"] in pre["entries"] and results["mutate"]["deleted"] not in mutated["entries"]
    assert mutated["entries"] != pre["entries"] and mutated["tables"] != pre["tables"]
    assert post["entries"] == pre["entries"], "files, owners, modes or mtimes differ after the restore"
    assert post["tables"] == pre["tables"], "tables differ after the restore"


def test_the_site_serves_after_the_restore(host):
    assert host.check_output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/") == "200"


def test_verify_matched_every_entry(results):
    assert results["verify"]["mismatch_count"] == 0
    assert results["verify"]["entries"] > 1000  # the small generated site has well over a thousand files


def test_the_scheduled_run_on_python_3_9_made_a_backup_and_recorded_it(host, results):
    status = results["status"]
    assert status["schema"] == "bxops.backup-status/1"
    assert status["last_run"]["result"] == "ok"
    good = status["last_good"]
    meta = json.loads(host.file(f"{good['path']}/backup.json").content_string)
    assert good["id"] == meta["id"] and meta["docroot"] == DOCROOT and meta["db"]["tables"]
    assert host.file(STATUS).mode == 0o644


def test_restic_lists_the_copy_and_restores_it_byte_for_byte(host, results):
    good = results["status"]["last_good"]
    snapshot = [s for s in results["snapshots"] if good["offsite"]["snapshot"] in (s["short_id"], s["id"])]
    assert len(snapshot) == 1 and snapshot[0]["paths"] == [good["path"]]
    restored = f"{TEST_DIR}/restic-restore{good['path']}"
    meta = json.loads(host.file(f"{restored}/backup.json").content_string)
    for part in ("files", "db"):
        name = meta[part]["archive" if part == "files" else "dump"]
        assert host.check_output(f"sha256sum {restored}/{name}").split()[0] == meta[part]["sha256"], part
