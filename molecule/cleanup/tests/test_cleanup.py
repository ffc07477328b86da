"""The cleanup role on a generated site, checked against the generator's truth.json and against a
fingerprint of the site taken on the host before anything ran (snapshot.py).

What each category removes and keeps comes from truth.json's `cleanup` (the generator planted every file and
set by hand what the documented retention does with it): nothing here re-derives retention from the role's
defaults or copies the module's patterns."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DOCROOT = "/home/bitrix/www"
TEST_DIR = "/var/lib/bxops-test"
QUARANTINE = "/var/lib/bxops/quarantine"


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


def _orphans(truth, which):
    paths = set(truth["cleanup"]["orphans"][which])
    return [o for o in truth["uploads"]["orphans"] if o["path"] in paths]


def _old_orphans(truth):
    return _orphans(truth, "quarantine")


def _young_orphans(truth):
    return _orphans(truth, "young")


def _category(truth, name):
    return truth["cleanup"]["categories"][name]


def _gone(state, rel):
    """Neither the entry nor anything below it is left."""
    return _abs(rel) not in state and not _under(state, _abs(rel))


def _there(state, rel):
    return _abs(rel) in state or bool(_under(state, _abs(rel)))


def _check_fates(truth, before, state, name):
    cat = _category(truth, name)
    assert cat["remove"] or cat["keep"], f"truth.json plants nothing for {name}"
    for rel in cat["remove"]:
        assert _there(before, rel), f"{rel} was not there before the run: the test proves nothing"
        assert _gone(state, rel), f"{name}: {rel} should be gone"
    for rel in cat["keep"]:
        assert _there(state, rel), f"{name}: {rel} must stay"
        if _abs(rel) in before:
            assert state[_abs(rel)]["sha256"] == before[_abs(rel)]["sha256"], f"{name}: {rel} was changed"


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
    _check_fates(truth, before, state, "html_pages")
    assert sorted(_category(truth, "html_pages")["keep"]) == sorted(truth["composite"]["config_files"])


def test_upload_tmp_by_expiry_and_age(truth, before, state):
    _check_fates(truth, before, state, "upload_tmp")


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


@pytest.mark.parametrize("name", ["cache", "managed_cache", "stack_cache", "managed_flags", "cache_image"])
def test_caches_emptied_folders_kept(host, truth, before, state, name):
    _check_fates(truth, before, state, name)
    root = _category(truth, name)["root"]
    assert host.file(_abs(root)).is_directory, f"{root} itself must stay"
    assert _under(state, _abs(root)) == [], f"{root} still holds files"


def test_bitrix_tmp_keeps_runtime_files_in_use(truth, before, state):
    _check_fates(truth, before, state, "bitrix_tmp")


def test_resize_cache_is_opt_in(truth, state):
    assert "resize_cache" not in truth["cleanup"]["policy"]["default_categories"]
    thumbnails = _category(truth, "resize_cache")["remove"]  # what the category would take when asked
    assert thumbnails and all(_abs(rel) in state for rel in thumbnails)


def test_backups_pruned_by_count_and_age(truth, before, state):
    _check_fates(truth, before, state, "backups")
    planted = {b["path"] for b in truth["backups"]}
    cat = _category(truth, "backups")
    assert planted <= set(cat["remove"]) | set(cat["keep"]), "a planted archive without a fate"


def test_only_old_rotated_logs_removed(truth, before, state):
    _check_fates(truth, before, state, "logs")
    removed = {Path(rel).name for rel in _category(truth, "logs")["remove"]}
    assert "import.log.gz" in removed, "the x.log.gz shape is not planted: the test proves less than it says"


def test_folders_no_category_owns_are_untouched(truth, before, state):
    untouched = truth["cleanup"]["untouched"]
    assert untouched
    for rel in untouched:
        assert state[_abs(rel)]["sha256"] == before[_abs(rel)]["sha256"], rel


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
