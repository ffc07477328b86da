"""The cleanup role on a generated site, checked against the generator's truth.json and against a
fingerprint of the site taken on the host before anything ran (snapshot.py)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

DOCROOT = "/home/bitrix/www"
TEST_DIR = "/var/lib/bxops-test"
QUARANTINE = "/var/lib/bxops/quarantine"
ROTATED = re.compile(r"^.+\.log(?:\.\d+|[-_.]\d{8}\d*)(?:\.(?:gz|bz2|xz|zst))?$")
BACKUP_SET = re.compile(r"^(.+?\.tar\.gz)(?:\.\d+)?$")
MIN_AGE = 86400


def _host_json(host, path):
    return json.loads(host.file(path).content_string)


@pytest.fixture(scope="module")
def truth():
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "truth" / "bxops-cleanup-staging.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def phase(host):
    return host.file(f"{TEST_DIR}/phase").content_string.strip()


@pytest.fixture(scope="module")
def before(host):
    return _host_json(host, f"{TEST_DIR}/before.json")


@pytest.fixture(scope="module")
def run(host):
    return _host_json(host, f"{TEST_DIR}/run.json")


def _abs(rel):
    return rel if rel.startswith("/") else f"{DOCROOT}/{rel}"


def _old_orphans(truth):
    now = truth["generator"]["now"]
    return [o for o in truth["uploads"]["orphans"] if o["mtime"] <= now - MIN_AGE]


def _young_orphans(truth):
    now = truth["generator"]["now"]
    return [o for o in truth["uploads"]["orphans"] if o["mtime"] > now - MIN_AGE]


def _batch_dir(run):
    batch = run["orphans"]["quarantined"]["batch"]
    assert batch, "the quarantine run opened no batch"
    return f"{QUARANTINE}/{batch}"


def _files_under(host, path):
    out = host.run("find %s -type f -printf '%%P\\n'", path)
    assert out.rc == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line]


# ---------------------------------------------------------------- converge: refusals and check mode


def test_refused_runs_and_check_mode_changed_nothing(host, before):
    after = _host_json(host, f"{TEST_DIR}/after_check.json")
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed == [], f"bad-input or check-mode runs changed {changed[:10]}"


def test_check_mode_reported_what_would_happen(host, truth):
    check = _host_json(host, f"{TEST_DIR}/checkmode.json")
    assert check["orphans"]["orphans"]["count"] == truth["uploads"]["orphan_count"]
    assert check["orphans"]["quarantined"]["files"] == len(_old_orphans(truth))
    assert check["disposable"]["categories"]["html_pages"]["files"] == truth["composite"]["cached_pages"]
    assert check["disposable"]["categories"]["cache"]["files"] == truth["disposable"]["bitrix/cache"]["files"]


# ---------------------------------------------------------------- after cleanup + quarantine


def test_orphans_found_are_the_truths_orphans(phase, run, truth):
    report = run["orphans"]["orphans"]
    assert report["count"] == truth["uploads"]["orphan_count"]
    assert report["bytes"] == truth["uploads"]["orphan_bytes"]
    assert set(report["sample"]) <= {o["path"] for o in truth["uploads"]["orphans"]}
    assert report["young"] == len(_young_orphans(truth))
    assert sum(b["count"] for b in report["by_folder"].values()) == report["count"]
    assert sum(b["count"] for b in report["by_age"].values()) == report["count"]


def test_old_orphans_are_in_quarantine_with_a_manifest_line(host, phase, run, truth, before):
    if phase != "quarantined":
        pytest.skip("restored since")
    batch = _batch_dir(run)
    manifest = {}
    for line in host.file(f"{batch}/manifest.jsonl").content_string.splitlines():
        entry = json.loads(line)
        manifest[entry["path"]] = entry
    old = _old_orphans(truth)
    assert run["orphans"]["quarantined"]["files"] == len(old)
    for orphan in old:
        rel = orphan["path"]
        assert not host.file(_abs(rel)).exists, f"{rel} is still in the docroot"
        moved = host.file(f"{batch}/files/{rel}")
        assert moved.exists, f"{rel} is not in quarantine"
        assert moved.sha256sum == before[_abs(rel)]["sha256"]
        entry = manifest[rel]
        assert entry["sha256"] == before[_abs(rel)]["sha256"]
        assert entry["size"] == orphan["size"]
        assert entry["owner"] == "bitrix" and entry["mode"] == before[_abs(rel)]["mode"]
        assert entry["mtime"] == orphan["mtime"]
    assert host.file(f"{batch}/batch.json").content_string.count('"complete"') == 1


def test_young_orphans_stay_in_place(host, truth):
    for orphan in _young_orphans(truth):
        assert host.file(_abs(orphan["path"])).exists, f"young orphan {orphan['path']} was moved"


def test_every_referenced_file_is_still_in_place(host, phase, truth, before):
    old = {_abs(o["path"]) for o in _old_orphans(truth)}
    restored = phase == "restored"
    upload = f"{DOCROOT}/upload/"
    expected = {p: v for p, v in before.items()
                if p.startswith(upload) and not p.startswith(upload + "tmp/") and (restored or p not in old)}
    now = {f"{upload}{rel}" for rel in _files_under(host, upload)}
    missing = sorted(set(expected) - now)
    assert missing == [], f"files that must stay are gone: {missing[:10]}"
    for rel in truth["uploads"]["content_referenced"] + [d["path"] for d in truth["uploads"]["duplicates"]]:
        assert host.file(_abs(rel)).sha256sum == before[_abs(rel)]["sha256"]


def test_composite_flags_intact_and_cached_pages_gone(host, truth, before):
    for rel in truth["composite"]["config_files"]:
        assert host.file(_abs(rel)).sha256sum == before[_abs(rel)]["sha256"], f"{rel} was touched"
    left = [p for p in _files_under(host, f"{DOCROOT}/bitrix/html_pages") if p.endswith(".html")]
    assert left == []


def test_upload_tmp_by_expiry_and_age(host, truth):
    t = truth["upload_tmp"]
    for rel in t["expired"] + t["old_other"]:
        assert not host.file(_abs(rel)).exists, f"{rel} should be gone"
    for rel in t["live"] + t["young_other"]:
        assert host.file(_abs(rel)).exists, f"{rel} is live and must stay"


def test_caches_emptied_folders_kept(host):
    for rel in ("bitrix/cache", "bitrix/managed_cache", "bitrix/stack_cache", "bitrix/managed_flags",
                "bitrix/cache_image"):
        assert host.file(_abs(rel)).is_directory
        assert _files_under(host, _abs(rel)) == [], f"{rel} still holds files"


def test_bitrix_tmp_keeps_runtime_files_in_use(host, before):
    for name in ("cacert.pem", "openssl.cnf"):
        path = f"{DOCROOT}/bitrix/tmp/{name}"
        assert host.file(path).sha256sum == before[path]["sha256"]


def test_resize_cache_is_opt_in(host, before):
    kept = [p for p in before if p.startswith(f"{DOCROOT}/upload/resize_cache/")]
    assert kept and all(host.file(p).exists for p in kept[:50])


def test_backups_pruned_by_count_and_age(host, truth):
    now = truth["generator"]["now"]
    sets = {}
    for b in truth["backups"]:
        sets.setdefault(BACKUP_SET.match(Path(b["path"]).name).group(1), []).append(b)
    ordered = sorted(sets.values(), key=lambda parts: max(p["mtime"] for p in parts), reverse=True)
    removed = [p for parts in ordered[3:] if max(x["mtime"] for x in parts) < now - 30 * 86400 for p in parts]
    kept = [p for parts in ordered for p in parts if p not in removed]
    assert removed and kept
    for b in removed:
        assert not host.file(_abs(b["path"])).exists, f"old backup {b['path']} kept"
    for b in kept:
        assert host.file(_abs(b["path"])).exists, f"backup {b['path']} removed against retention"
    assert host.file(f"{DOCROOT}/bitrix/backup/.htaccess").exists


def test_only_old_rotated_logs_removed(host, truth):
    now = truth["generator"]["now"]
    for log in truth["logs"]:
        old_rotated = ROTATED.match(Path(log["path"]).name) and log["mtime"] < now - 14 * 86400
        assert host.file(_abs(log["path"])).exists != bool(old_rotated), log["path"]


def test_report_counts_what_was_reclaimed(run, truth):
    cats = run["disposable"]["categories"]
    assert cats["html_pages"]["files"] == truth["composite"]["cached_pages"]
    assert cats["html_pages"]["bytes"] == truth["composite"]["cached_bytes"]
    for rel, name in (("bitrix/cache", "cache"), ("bitrix/managed_cache", "managed_cache"),
                      ("bitrix/stack_cache", "stack_cache"), ("bitrix/cache_image", "cache_image")):
        assert cats[name]["files"] == truth["disposable"][rel]["files"], name
        assert cats[name]["bytes"] == truth["disposable"][rel]["bytes"], name
    assert cats["upload_tmp"]["bxtemp_removed"] == len(truth["upload_tmp"]["expired"])
    assert run["disposable"]["total"]["bytes"] == sum(c["bytes"] for c in cats.values())


# ---------------------------------------------------------------- after restore (side_effect)


def test_restore_brings_files_back_exactly(host, phase, truth, before):
    if phase != "restored":
        pytest.skip("restore has not run yet")
    result = _host_json(host, f"{TEST_DIR}/restore.json")
    old = _old_orphans(truth)
    assert result["restore"]["restored"]["files"] == len(old)
    assert result["restore"]["restored"]["conflicts"] == []
    for orphan in old:
        path = _abs(orphan["path"])
        f = host.file(path)
        want = before[path]
        assert f.sha256sum == want["sha256"], path
        assert (f.uid, f.gid, "%04o" % f.mode) == (want["uid"], want["gid"], want["mode"]), path
        assert int(host.run("stat -c %%Y %s", path).stdout) == orphan["mtime"], path


def test_purge_keeps_a_fresh_batch(host, phase):
    if phase != "restored":
        pytest.skip("purge has not run yet")
    result = _host_json(host, f"{TEST_DIR}/restore.json")
    assert result["purge"]["purged"]["batches"] == []
    assert result["purge"]["purged"]["kept"] >= 1
