"""Helpers for the bitrix_permissions module's tests: small Bitrix-shaped trees in a temp folder.

The module changes owners, so these tests run as root (as the module does on a host). Off CI, a non-root run
skips them with the reason; under CI (CI=true, which runs as root) a non-root run fails: a CI that silently
skipped the whole file would test nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

SITE_UID = 4242  # the "site user" of these tests (numeric: it need not exist)
OTHER_UID = 4343  # a wrong owner

ROOT_REASON = "changes owners: run as root"


def need_root(euid: int | None = None, environ: dict[str, str] | None = None) -> None:
    """Skip a test that needs root, except under CI, where not being root is a failure of the set-up."""
    euid = os.geteuid() if euid is None else euid
    environ = dict(os.environ) if environ is None else environ
    if euid == 0:
        return
    if environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI runs these tests as root, but this is uid {euid}: {ROOT_REASON}", pytrace=False)
    pytest.skip(ROOT_REASON)


requires_root = pytest.mark.usefixtures("as_root")


def make_site(root: Path, dbconn: str = "") -> Path:
    """A minimal Bitrix docroot owned by SITE_UID with the core's default modes (0755/0644)."""
    docroot = root / "www"
    files = {
        "bitrix/modules/main/classes/general/version.php": '<?php define("SM_VERSION", "23.900.550");\n',
        "bitrix/modules/main/include.php": "<?php\n",
        "bitrix/php_interface/dbconn.php": "<?php\n" + dbconn,
        "bitrix/.settings.php": "<?php return array();\n",
        "bitrix/license_key.php": '<?php $LICENSE_KEY = "TEST";\n',
        "bitrix/cache/s1/a.php": "<?php\n",
        "upload/iblock/1ab/photo.jpg": "jpg",
        "upload/1c_catalog/import.xml": "<xml/>",
        "local/php_interface/init.php": "<?php\n",
        "index.php": "<?php\n",
        ".git/HEAD": "ref: refs/heads/main\n",
    }
    for rel, text in files.items():
        path = docroot / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (docroot / "upload" / "1c_exchange").mkdir(parents=True)
    for dirpath, _dirnames, filenames in os.walk(docroot):
        os.chown(dirpath, SITE_UID, SITE_UID)
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chown(path, SITE_UID, SITE_UID)
            os.chmod(path, 0o644)
    return docroot


def snapshot(docroot: Path) -> dict[str, tuple[int, int, int]]:
    """(uid, gid, mode) of every entry, symlinks not followed."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(docroot):
        for name in [*dirnames, *filenames, ""]:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            state[os.path.relpath(path, docroot)] = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
    return state
