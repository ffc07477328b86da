"""What a user of the backup role cares about, checked on the test host after side_effect.yml ran."""
import json
import os

import pytest

testinfra_hosts = ["bxops-backup-host"]  # the staging host; production is test_drill.py's

TEST_DIR = "/var/lib/bxops-test"
BACKUPS = "/var/lib/bxops/backups"
DOCROOT = "/home/bitrix/www"
CANARY = "Canary-pw-5f1e9c#never-shown"


def load(host, name):
    return json.loads(host.file(f"{TEST_DIR}/{name}").content_string)


@pytest.fixture(scope="module")
def results(host):
    return load(host, "results.json")


@pytest.fixture(scope="module")
def truth():
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "truth", "bxops-backup-host.json")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def states(host):
    return load(host, "pre-backup.json"), load(host, "mutated.json"), load(host, "post-restore.json")


def test_the_mutation_changed_what_the_restore_must_undo(states, results):
    pre, mutated, _post = states
    deleted = results["mutate"]["deleted"]
    assert deleted in pre["entries"] and deleted not in mutated["entries"]
    assert "added_after_backup.php" in mutated["entries"]
    assert mutated["entries"]["index.php"]["sha256"] != pre["entries"]["index.php"]["sha256"]
    assert mutated["tables"] != pre["tables"]
    assert "bxops_added_after_backup" in mutated["tables"]


def test_restore_brings_every_file_back_with_owner_mode_and_mtime(states):
    pre, _mutated, post = states
    missing = sorted(set(pre["entries"]) - set(post["entries"]))
    extra = sorted(set(post["entries"]) - set(pre["entries"]))
    common = set(pre["entries"]) & set(post["entries"])
    differ = sorted(p for p in common if pre["entries"][p] != post["entries"][p])
    assert (missing, extra, differ[:10]) == ([], [], [])


def test_restore_brings_every_table_back(states):
    pre, _mutated, post = states
    assert post["tables"] == pre["tables"]
    assert len(pre["tables"]) > 5


def test_the_backup_covers_the_generated_site(states, truth):
    pre = states[0]
    # every module the generator wrote is in the snapshot the restore was compared with
    for module in truth["modules"].values():
        assert module["path"] in pre["entries"], module["path"]
    assert pre["entries"]["upload"]["type"] == "dir"


def test_added_files_went_to_quarantine_not_lost(host, results):
    restore = results["restore"]
    assert restore["quarantined"] >= 2
    assert host.file(os.path.join(restore["quarantine_dir"], "added_after_backup.php")).is_file
    assert host.file(os.path.join(restore["quarantine_dir"], "local/modules/added.module/lib/x.php")).is_file
    assert "bxops_added_after_backup" in restore["tables_dropped"]


def test_disposable_folders_are_left_alone(host):
    assert host.file(DOCROOT + "/upload/tmp/added_in_disposable.txt").is_file


def test_disposable_content_is_not_in_the_backup(host, results, truth):
    meta = json.loads(host.file("{}/{}/backup.json".format(BACKUPS, results["count"]["new"])).content_string)
    assert "bitrix/cache" in meta["exclude"] and "upload/resize_cache" in meta["exclude"]
    manifest = "{}/{}/manifest.jsonl".format(BACKUPS, results["count"]["new"])
    listing = host.run("grep -c '\"p\":\"bitrix/managed_cache/' %s", manifest)
    assert listing.stdout.strip() == "0"
    cached = truth["disposable"]["bitrix/managed_cache"]["files"]
    assert cached > 0  # there was something to leave out


def test_the_site_serves_after_the_restore(host):
    out = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/")
    assert out.stdout == "200"


def test_verify_accepts_the_genuine_backup(results):
    assert results["verify"]["mismatch_count"] == 0
    assert results["verify"]["entries"] > 1000


def test_verify_names_the_tampered_file(results):
    msg = results["tampered_verify"]
    assert msg != "passed"
    assert "index.php" in msg and "content differs" in msg


def test_check_mode_writes_nothing(results):
    assert results["check_mode_backups"] == results["converge_backups"]
    assert results["check_mode_result"] == {}


def test_converge_twice_made_one_backup(results, host):
    # the idempotence run reused the backup converge made (backup_min_interval)
    assert results["converge_backups"] == 1
    first = load(host, "converge-backup.json")
    assert results["restore"]["id"] == first["id"]


@pytest.mark.parametrize("case,variable", [
    ("backup_dir_in_docroot", "backup_dir"),
    ("keep_count_zero", "backup_keep_count"),
    ("not_a_bitrix_site", "bitrix_docroot"),
    ("missing_db_credentials", "backup_db_password"),
    ("wrong_db_password", "backup_db_password"),
])
def test_bad_input_is_refused_naming_the_variable(results, case, variable):
    msg = results["bad_" + case]
    assert msg != "ACCEPTED"
    assert variable in msg


def test_credentials_from_the_vault_back_up_a_site_whose_settings_hold_none(results, host):
    made = results["vault_credentials"]
    assert made["db_dump"] and not made["reused"]
    assert host.file(made["db_dump"]).size > 1000, "the dump holds the site's tables"
    assert host.file(made["manifest"]).exists


def test_bad_input_changed_nothing(results, host):
    assert results["after_bad_backups"] == results["converge_backups"]
    assert not results["backup_dir_in_docroot_created"]
    assert not host.file(DOCROOT + "/upload/backups").exists


def test_retention_by_age_keeps_other_sites_and_foreign_folders(results):
    age = results["age"]
    planted = age["planted"]
    assert [p["id"] for p in age["pruned"]] == [planted["twenty_days"]]
    assert "keep_days" in age["pruned"][0]["reason"]
    for kept in (planted["two_days"], planted["other_site"], planted["not_a_backup"], age["new"]):
        assert kept in age["left"]


def test_retention_by_count_never_deletes_the_backup_just_made(results):
    count = results["count"]
    future = count["planted"]["future"]
    assert sorted(count["left"]) == sorted([future, count["new"], results["age"]["planted"]["other_site"],
                                            "not-a-backup"])
    assert all("keep_count" in p["reason"] for p in count["pruned"])


def test_backups_are_private(host, results):
    assert host.file(BACKUPS).mode == 0o700
    path = "{}/{}".format(BACKUPS, results["count"]["new"])
    assert host.file(path).mode == 0o700
    for name in host.run("ls %s", path).stdout.split():
        assert host.file(path + "/" + name).mode == 0o600, name


def test_the_db_password_never_appears_in_the_output(host, results):
    captured = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "leak-output.txt")
    with open(captured, encoding="utf-8") as f:
        output = f.read()
    assert results["leak_run_rc"] == 0, output[-3000:]
    assert "bitrix_backup" in output and "refused as expected" in output
    site_password = host.check_output(
        f"php -n -d extension=json -r '$s = include \"{DOCROOT}/bitrix/.settings.php\";"
        " echo $s[\"connections\"][\"value\"][\"default\"][\"password\"];'")
    assert len(site_password) >= 8
    assert CANARY not in output
    assert site_password not in output
