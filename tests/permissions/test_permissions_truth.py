"""bitrix_permissions on a generated site with the role's default policy: it fixes exactly the deviations
truth.json lists (the generator's own record of what it planted: path, kinds, before, after) and nothing else.
The site user is `nobody` (any existing user other than root), so root-owned plants are deviations too."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_permissions as bp
from permissions_helpers import ROOT, requires_root, snapshot

pytestmark = requires_root

DEFAULTS = yaml.safe_load((ROOT / "roles/permissions/defaults/main.yml").read_text())
SITE_USER = "nobody"
KINDS = ("owner", "group", "mode", "world_writable", "secret")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("perm-truth")
    os.chmod(base, 0o755)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tools/sitegen"), PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(
        [sys.executable, "-m", "bxsitegen", "--docroot", str(base / "www"), "--truth", str(base / "truth.json"),
         "--db-mode", "none", "--no-system-files", "--packages-dir", str(base / "updates"),
         "--site-user", SITE_USER, "--now", "1760000000", "--force", "--seed", "5"],
        check=True, env=env, capture_output=True,
    )
    return base / "www", json.loads((base / "truth.json").read_text())


def fix(docroot: Path, check_mode: bool = False) -> dict:
    """The module's core with the role's default policy (the input under test)."""
    policy = bp.Policy.build(
        str(docroot), owner=SITE_USER, secrets=DEFAULTS["permissions_secrets"],
        writable=DEFAULTS["permissions_writable"], secret_mode=DEFAULTS["permissions_secret_mode"],
    )
    return bp.fix_tree(str(docroot), policy, check_mode=check_mode)


def test_the_fix_is_exactly_the_planted_deviations(generated: tuple[Path, dict]) -> None:
    docroot, truth = generated
    perms = truth["permissions"]
    deviations = {d["path"]: d for d in perms["deviations"]}
    # the generator's plants, named by hand: 1C folder and files of root and www-data, a world-writable
    # handler, .settings.php readable by others, dbconn.php and the licence key group-readable (0640)
    assert sorted(deviations) == ["bitrix/.settings.php", "bitrix/license_key.php", "bitrix/php_interface/dbconn.php",
                                  "local/ajax/handler.php", "upload/1c_catalog", "upload/1c_catalog/import.xml",
                                  "upload/1c_catalog/offers.xml"]
    before = snapshot(docroot)
    checked = fix(docroot, check_mode=True)
    assert snapshot(docroot) == before
    result = fix(docroot)
    for outcome in (checked, result):
        assert outcome["counts"] == perms["counts"]
        for kind in KINDS:
            assert sorted(outcome["samples"][kind]) == sorted(p for p, d in deviations.items() if kind in d["kinds"])
    after = snapshot(docroot)
    site = pwd.getpwnam(SITE_USER)
    for rel, dev in deviations.items():
        st = os.lstat(docroot / rel)
        assert pwd.getpwuid(st.st_uid).pw_name == dev["after"]["owner"], rel
        assert st.st_gid == site.pw_gid, rel
        assert f"{stat.S_IMODE(st.st_mode):04o}" == dev["after"]["mode"], rel
    # nothing else changed
    assert sorted(p for p in after if after[p] != before[p]) == sorted(deviations)
    assert fix(docroot)["counts"]["paths"] == 0
