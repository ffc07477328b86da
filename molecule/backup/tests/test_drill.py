"""The scheduled backup on production and the restore drill into staging, checked after drill.yml ran."""
import json
import os

import pytest
import testinfra

testinfra_hosts = ["bxops-backup-production"]

TEST_DIR = "/var/lib/bxops-test"
UNIT = "bxops-backup-home_bitrix_www"
STATUS = "/var/lib/bxops-status/backup-home_bitrix_www.json"
PASSWORD = "Offsite-pw-7c2e#never-shown"


@pytest.fixture(scope="module")
def staging():
    return testinfra.get_host("podman://bxops-backup-host")


def load(host, name):
    return json.loads(host.file(f"{TEST_DIR}/{name}").content_string)


@pytest.fixture(scope="module")
def prod(host):
    return load(host, "drill-results.json")


@pytest.fixture(scope="module")
def drill(staging):
    return load(staging, "drill-results.json")


def test_the_timer_is_installed_enabled_and_waiting(host, prod):
    timer = dict(line.split("=", 1) for line in prod["timer"].splitlines())
    assert timer["ActiveState"] == "active" and timer["UnitFileState"] == "enabled"
    assert "03:15:00" in timer["TimersCalendar"]
    assert host.service(f"{UNIT}.timer").is_enabled


def test_a_run_of_the_service_made_a_backup_and_recorded_it(host, prod):
    status = prod["status"]
    assert status["schema"] == "bxops.backup-status/1"
    assert status["last_run"]["result"] == "ok"
    good = status["last_good"]
    meta = json.loads(host.file(os.path.join(good["path"], "backup.json")).content_string)
    assert good["id"] == meta["id"] and good["size_bytes"] == meta["size_bytes"]
    assert meta["docroot"] == "/home/bitrix/www" and meta["db"]["tables"], "files and database"


def test_the_status_record_is_world_readable_and_holds_no_secret(host):
    record = host.file(STATUS)
    assert record.mode == 0o644
    assert PASSWORD not in record.content_string


def test_restic_lists_the_snapshot_and_restores_the_backup_byte_for_byte(host, prod):
    good = prod["status"]["last_good"]
    snapshot = [s for s in prod["snapshots"] if s["short_id"] == good["offsite"]["snapshot"]
                or s["id"] == good["offsite"]["snapshot"]]
    assert len(snapshot) == 1 and snapshot[0]["hostname"] == "bxops-backup-production"
    assert snapshot[0]["paths"] == [good["path"]]
    restored = TEST_DIR + "/restic-restore" + good["path"]
    meta = json.loads(host.file(restored + "/backup.json").content_string)
    # the archive was corrupted on production afterwards: compare with the checksums backup.json recorded
    archive = host.run("sha256sum %s", "{}/{}".format(restored, meta["files"]["archive"])).stdout.split()[0]
    assert archive == meta["files"]["sha256"]
    dump = host.run("sha256sum %s", "{}/{}".format(restored, meta["db"]["dump"])).stdout.split()[0]
    assert dump == meta["db"]["sha256"]


def test_the_restic_password_is_only_in_a_root_0600_file(host):
    secret = host.file("/etc/bxops/backup/home_bitrix_www.restic-password")
    assert (secret.mode, secret.user, secret.group) == (0o600, "root", "root")
    assert secret.content_string == PASSWORD
    for unit in ("service", "timer"):
        text = host.file(f"/etc/systemd/system/{UNIT}.{unit}").content_string
        assert PASSWORD not in text
    config = host.file("/etc/bxops/backup/home_bitrix_www.json")
    assert config.mode == 0o600 and PASSWORD not in config.content_string
    assert host.file("/etc/bxops/backup").mode == 0o700


def test_the_good_backup_passes_the_drill_and_is_recorded(drill, prod, staging):
    good = drill["good"]
    assert good["result"] == "passed", good["msg"]
    assert good["source"]["host"] == "bxops-backup-production"
    assert good["source"]["backup_id"] == prod["status"]["last_good"]["id"]
    assert good["target"]["restored"] is True or good["target"]["restored"] == "True"
    assert float(good["duration_s"]) > 0
    assert good["date"].endswith("Z")
    listing = staging.run("ls /var/lib/bxops/drills").stdout.split()
    assert "latest.json" in listing and len(listing) >= 3  # two drills and latest.json


def test_the_drill_restored_production_s_data_into_staging(staging, prod):
    # the staging site now serves, from production's backup
    assert staging.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/").stdout == "200"


def test_a_corrupted_archive_fails_the_drill_with_a_clear_message(drill, prod):
    msg = drill["bad_msg"]
    assert msg != "PASSED"
    assert "restore drill FAILED" in msg and "does not verify" in msg
    assert "archive checksum differs" in msg and prod["corrupted"] in msg
    record = drill["bad_record"]
    assert record["result"] == "failed" and "does not verify" in record["msg"]


def test_the_failed_drill_left_staging_as_it_was(staging):
    before = load(staging, "staging-before-bad.json")
    after = load(staging, "staging-after-bad.json")
    assert after == before


def test_production_is_unchanged_by_the_drills(host):
    before = load(host, "prod-before.json")
    after = load(host, "prod-after.json")
    assert after["tables"] == before["tables"]
    differ = sorted(p for p in set(before["entries"]) | set(after["entries"])
                    if before["entries"].get(p) != after["entries"].get(p))
    assert differ == []


def test_production_matches_the_generated_site(host):
    truth = json.loads(host.file("/var/lib/bxops-sitegen/truth.json").content_string)
    entries = load(host, "prod-after.json")["entries"]
    for module in truth["modules"].values():
        assert module["path"] in entries, module["path"]


@pytest.mark.parametrize("case,variable", [
    ("bad_restore_drill_missing_password", "backup_drill_password"),
    ("bad_restore_drill_missing_source_host", "backup_drill_source_host"),
    ("bad_restore_drill_on_production", "bxops_env"),
])
def test_bad_drill_input_is_refused_naming_the_variable(drill, case, variable):
    assert drill[case] != "ACCEPTED"
    assert variable in drill[case]


@pytest.mark.parametrize("case,variable", [
    ("bad_schedule_missing_password", "backup_offsite_password"),
    ("bad_schedule_keep_last_not_a_number", "backup_offsite_keep_last"),
    ("bad_schedule_keep_count_not_a_number", "backup_keep_count"),
    ("bad_schedule_bad_calendar", "backup_schedule_on_calendar"),
])
def test_bad_schedule_input_is_refused_naming_the_variable(prod, case, variable):
    assert prod[case] != "ACCEPTED"
    assert variable in prod[case]


def test_nothing_shows_the_offsite_password(host):
    journal = host.run("journalctl -u %s.service --no-pager", UNIT).stdout
    assert PASSWORD not in journal
