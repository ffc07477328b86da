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
def state(host):
    """Every file under the docroot, the log folders and the quarantine, read on the host in one call."""
    code = (Path(__file__).parent.parent / "snapshot.py").read_text(encoding="utf-8")
    out = host.run("python3 -c %s -", code)
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


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


def _under(state, folder):
    return sorted(p for p in state if p.startswith(folder.rstrip("/") + "/"))


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


def test_old_orphans_are_in_quarantine_with_a_manifest_line(host, phase, run, truth, before, state):
    if phase != "quarantined":
        pytest.skip("restored since")
    batch = _batch_dir(run)
    manifest = {}
    for line in host.file(f"{batch}/manifest.jsonl").content_string.splitlines():
        entry = json.loads(line)
        manifest[entry["path"]] = entry
    old = _old_orphans(truth)
    assert run["orphans"]["quarantined"]["files"] == len(old)
    assert sorted(manifest) == sorted(o["path"] for o in old)
    for orphan in old:
        rel = orphan["path"]
        assert _abs(rel) not in state, f"{rel} is still in the docroot"
        moved = state.get(f"{batch}/files/{rel}")
        assert moved is not None, f"{rel} is not in quarantine"
        assert moved["sha256"] == before[_abs(rel)]["sha256"]
        entry = manifest[rel]
        assert entry["sha256"] == before[_abs(rel)]["sha256"]
        assert entry["size"] == orphan["size"]
        assert entry["owner"] == "bitrix" and entry["mode"] == before[_abs(rel)]["mode"]
        assert entry["mtime"] == orphan["mtime"]
    assert json.loads(host.file(f"{batch}/batch.json").content_string)["state"] == "complete"


def test_young_orphans_stay_in_place(truth, state):
    for orphan in _young_orphans(truth):
        assert _abs(orphan["path"]) in state, f"young orphan {orphan['path']} was moved"


def test_every_referenced_file_is_still_in_place(phase, truth, before, state):
    old = {_abs(o["path"]) for o in _old_orphans(truth)}
    restored = phase == "restored"
    upload = f"{DOCROOT}/upload/"
    expected = {p: v for p, v in before.items()
                if p.startswith(upload) and not p.startswith(upload + "tmp/") and (restored or p not in old)}
    missing = sorted(p for p in expected if p not in state)
    assert missing == [], f"files that must stay are gone: {missing[:10]}"
    changed = sorted(p for p in expected if state[p]["sha256"] != expected[p]["sha256"])
    assert changed == [], f"files changed: {changed[:10]}"
    named = truth["uploads"]["content_referenced"] + [d["path"] for d in truth["uploads"]["duplicates"]]
    assert named and all(_abs(rel) in state for rel in named)


def test_composite_flags_intact_and_cached_pages_gone(truth, before, state):
    for rel in truth["composite"]["config_files"]:
        assert state[_abs(rel)]["sha256"] == before[_abs(rel)]["sha256"], f"{rel} was touched"
    assert [p for p in _under(before, f"{DOCROOT}/bitrix/html_pages") if p.endswith(".html")]
    assert [p for p in _under(state, f"{DOCROOT}/bitrix/html_pages") if p.endswith(".html")] == []


def test_upload_tmp_by_expiry_and_age(truth, before, state):
    t = truth["upload_tmp"]
    for rel in t["expired"] + t["old_other"]:
        assert _under(before, _abs(rel)) or _abs(rel) in before
        assert not _under(state, _abs(rel)) and _abs(rel) not in state, f"{rel} should be gone"
    for rel in t["live"] + t["young_other"]:
        assert _under(state, _abs(rel)) or _abs(rel) in state, f"{rel} is live and must stay"


def test_file_held_open_by_a_site_process_is_kept(host, run, before, state):
    """converge started a process of the site user holding an old upload/tmp entry open (tasks/hold_open.yml)."""
    held = f"{DOCROOT}/upload/tmp/bxops-held-open.tmp"
    control = f"{DOCROOT}/upload/tmp/bxops-not-held.tmp"
    holder = _host_json(host, f"{TEST_DIR}/holder.json")
    assert holder["user"] == "bitrix"
    assert holder["fd_readable"], "root cannot read the site process's /proc/<pid>/fd: the host lacks CAP_SYS_PTRACE"
    fds = host.run("readlink /proc/%s/fd/*", str(holder["pid"]))
    assert held in fds.stdout.splitlines(), "the holder is gone or no longer holds the file: the test proves nothing"
    assert held in before and control in before
    assert held in state, "cleanup deleted a file a site process holds open"
    assert state[held] == before[held]
    assert control not in state, "the same old entry, not held open, should be gone (else nothing was tested)"
    assert run["disposable"]["categories"]["upload_tmp"]["kept_in_use"] >= 1


def test_caches_emptied_folders_kept(host, before, state):
    folders = [f"{DOCROOT}/bitrix/{name}" for name in
               ("cache", "managed_cache", "stack_cache", "managed_flags", "cache_image")]
    assert host.run("test -d %s -a -d %s -a -d %s -a -d %s -a -d %s", *folders).rc == 0
    for folder in folders:
        assert _under(before, folder), f"{folder} held nothing to begin with"
        assert _under(state, folder) == [], f"{folder} still holds files"


def test_bitrix_tmp_keeps_runtime_files_in_use(before, state):
    for name in ("cacert.pem", "openssl.cnf"):
        path = f"{DOCROOT}/bitrix/tmp/{name}"
        assert state[path]["sha256"] == before[path]["sha256"]


def test_resize_cache_is_opt_in(before, state):
    kept = _under(before, f"{DOCROOT}/upload/resize_cache")
    assert kept and all(p in state for p in kept)


def test_backups_pruned_by_count_and_age(truth, state):
    now = truth["generator"]["now"]
    sets = {}
    for b in truth["backups"]:
        sets.setdefault(BACKUP_SET.match(Path(b["path"]).name).group(1), []).append(b)
    ordered = sorted(sets.values(), key=lambda parts: max(p["mtime"] for p in parts), reverse=True)
    removed = [p for parts in ordered[3:] if max(x["mtime"] for x in parts) < now - 30 * 86400 for p in parts]
    kept = [p for parts in ordered for p in parts if p not in removed]
    assert removed and kept
    for b in removed:
        assert _abs(b["path"]) not in state, f"old backup {b['path']} kept"
    for b in kept:
        assert _abs(b["path"]) in state, f"backup {b['path']} removed against retention"
    assert f"{DOCROOT}/bitrix/backup/.htaccess" in state


def test_only_old_rotated_logs_removed(truth, state):
    limit = truth["generator"]["now"] - 14 * 86400
    checked = 0
    for log in truth["logs"]:
        if limit <= log["mtime"] <= limit + 3600:
            continue  # exactly 14 days old at generation: its fate depends on when the run happened
        old_rotated = bool(ROTATED.match(Path(log["path"]).name)) and log["mtime"] < limit
        assert (_abs(log["path"]) in state) != old_rotated, log["path"]
        checked += old_rotated
    assert checked, "truth.json holds no old rotated log to test with"


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


def test_restore_brings_files_back_exactly(host, phase, truth, before, state):
    if phase != "restored":
        pytest.skip("restore has not run yet")
    result = _host_json(host, f"{TEST_DIR}/restore.json")
    old = _old_orphans(truth)
    assert result["restore"]["restored"]["files"] == len(old)
    assert result["restore"]["restored"]["conflicts"] == []
    for orphan in old:
        path = _abs(orphan["path"])
        assert path in state, f"{path} not restored"
        assert state[path] == before[path], f"{path}: {state[path]} != {before[path]}"
    assert not [p for p in state if p.startswith(QUARANTINE + "/") and "/files/" in p]


def test_purge_keeps_a_fresh_batch(host, phase):
    if phase != "restored":
        pytest.skip("purge has not run yet")
    result = _host_json(host, f"{TEST_DIR}/restore.json")
    assert result["purge"]["purged"]["batches"] == []
    assert result["purge"]["purged"]["kept"] >= 1
