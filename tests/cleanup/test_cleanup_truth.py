"""bitrix_cleanup on a generated site, as the role runs it (its defaults as the module's input), against what
truth.json says each category removes and keeps. The generator planted every file and set each fate by hand
(retention by count and age, rotated logs incl. x.log.gz, caches, composite flags): nothing here re-derives an
expectation from the role's defaults or the module's patterns."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import conftest  # noqa: F401  (import path)
import pytest
import yaml
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_cleanup as cleanup

PROJECT = Path(__file__).resolve().parents[2]
ROLE_DEFAULTS = yaml.safe_load((PROJECT / "roles/cleanup/defaults/main.yml").read_text())
NOW = 1_760_000_000
RUN_AFTER = 600  # the run starts ten minutes after the site was generated


def generate(base: Path, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(PROJECT / "tools/sitegen"), PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(
        [sys.executable, "-m", "bxsitegen", "--docroot", str(base / "www"), "--truth", str(base / "truth.json"),
         "--db-mode", "none", "--no-system-files", "--packages-dir", str(base / "updates"),
         "--site-user", "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
         "--now", str(NOW), "--force", *args],
        check=True, env=env, capture_output=True,
    )
    return json.loads((base / "truth.json").read_text())


def role_params(docroot: str, **extra: object) -> dict[str, object]:
    """The module's input as roles/cleanup/tasks passes it with the role's defaults (the input under test)."""
    names = ("categories", "fresh_age", "tmp_keep", "tmp_keep_idle", "bxtemp_grace", "upload_tmp_max_age",
             "backup_dirs", "backup_keep", "backup_max_age_days", "log_max_age_days", "in_use_check")
    params: dict[str, object] = {name: ROLE_DEFAULTS[f"cleanup_{name}"] for name in names}
    params.update(docroot=docroot, log_dirs=["local/logs"], **extra)  # the site's own log folder, as molecule
    return params


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("cleanup-truth")
    return base / "www", generate(base, "--seed", "7")


@pytest.fixture(scope="module")
def cleaned(generated: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> dict:
    root, truth = generated
    proc = tmp_path_factory.mktemp("proc")
    (proc / str(os.getpid())).symlink_to(f"/proc/{os.getpid()}")
    before = files_under(root)
    result = cleanup.run(role_params(str(root)), truth["upload_dir"], check=False, now=NOW + RUN_AFTER,
                         proc_root=str(proc))
    return {"before": before, "after": files_under(root), "result": result}


def _there(files: set[str], rel: str) -> bool:
    return rel in files or any(p.startswith(rel + "/") for p in files)


@pytest.mark.parametrize("name", ["cache", "managed_cache", "stack_cache", "managed_flags", "cache_image",
                                  "html_pages", "bitrix_tmp", "upload_tmp", "backups", "logs"])
def test_each_default_category_removes_and_keeps_what_truth_says(generated, cleaned, name: str) -> None:
    root, truth = generated
    cat = truth["cleanup"]["categories"][name]
    assert cat["remove"] or cat["keep"]
    assert cleaned["result"]["refused"] == []
    for rel in cat["remove"]:
        assert _there(cleaned["before"], rel), rel
        assert not _there(cleaned["after"], rel), f"{name}: {rel} should be gone"
    for rel in cat["keep"]:
        assert _there(cleaned["after"], rel), f"{name}: {rel} must stay"
    if cat["root"]:
        assert (root / cat["root"]).is_dir(), f"{cat['root']} itself must stay"


def test_reported_counts_are_the_planted_files(generated, cleaned) -> None:
    _root, truth = generated
    cats = cleaned["result"]["categories"]
    for name in ("cache", "managed_cache", "stack_cache", "managed_flags", "cache_image", "html_pages"):
        assert cats[name]["files"] == len(truth["cleanup"]["categories"][name]["remove"]), name
    assert cats["backups"]["files"] == len(truth["cleanup"]["categories"]["backups"]["remove"])
    assert cats["logs"]["files"] == len(truth["cleanup"]["categories"]["logs"]["remove"])


def test_nothing_else_changed(generated, cleaned) -> None:
    _root, truth = generated
    cats = truth["cleanup"]["categories"]
    removed = cleaned["before"] - cleaned["after"]
    planned = [rel for name in truth["cleanup"]["policy"]["default_categories"] for rel in cats[name]["remove"]]
    unexplained = sorted(p for p in removed if not any(p == r or p.startswith(r + "/") for r in planned))
    assert unexplained == []
    assert cleaned["after"] <= cleaned["before"]
    assert set(truth["cleanup"]["untouched"]) <= cleaned["after"]
    assert set(cats["resize_cache"]["remove"]) <= cleaned["after"]  # opt-in: a default run keeps thumbnails


def test_resize_cache_when_asked(generated, cleaned, tmp_path: Path) -> None:
    root, truth = generated
    cat = truth["cleanup"]["categories"]["resize_cache"]
    (tmp_path / str(os.getpid())).symlink_to(f"/proc/{os.getpid()}")
    result = cleanup.run(role_params(str(root), categories=["resize_cache"]), truth["upload_dir"], check=False,
                         now=NOW + RUN_AFTER, proc_root=str(tmp_path))
    assert result["categories"]["resize_cache"]["files"] == len(cat["remove"]) > 0
    assert not [rel for rel in cat["remove"] if (root / rel).exists()]
