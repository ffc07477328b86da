"""bitrix_site_stopped (the public-part switch, b_option main site_stopped) run as Ansible runs it, against a
stand-in `mysql` on PATH that keeps the one b_option row in a file: what the module reads and writes, check
mode, idempotence, and the option cache it must drop after a change."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
DB = {"host": "localhost", "database": "sitemanager", "user": "bitrix0", "password": "s3cret-pw"}

# The stand-in answers the module's three statements the way `mysql --batch --skip-column-names` does:
# the SELECT prints the value (nothing when the row is missing); UPDATE and INSERT store the new value.
FAKE_MYSQL = r"""#!/bin/sh
state="$BXOPS_TEST_STATE"
for arg in "$@"; do
  case "$arg" in
    --execute=SELECT*) [ -f "$state" ] && cat "$state"; exit 0 ;;
    --execute=UPDATE*"VALUE='Y'"*|--execute=INSERT*"'Y')") echo "$arg" >>"$state.log"; echo Y >"$state"; exit 0;;
    --execute=UPDATE*"VALUE='N'"*|--execute=INSERT*"'N')") echo "$arg" >>"$state.log"; echo N >"$state"; exit 0;;
  esac
done
echo "unexpected: $*" >&2
exit 1
"""


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    docroot = tmp_path / "www"
    version = docroot / "bitrix" / "modules" / "main" / "classes" / "general" / "version.php"
    version.parent.mkdir(parents=True)
    version.write_text('<?php\ndefine("SM_VERSION", "25.100.300");\ndefine("SM_VERSION_DATE", "2026-01-01");\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mysql").write_text(FAKE_MYSQL)
    (bin_dir / "mysql").chmod(0o755)
    return docroot


def run(site: Path, state: str, check: bool = False) -> dict:
    tmp = site.parent
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER="auto_silent",
               PATH=f"{tmp / 'bin'}:{os.environ['PATH']}", BXOPS_TEST_STATE=str(tmp / "site_stopped"))
    args = {"docroot": str(site), "state": state, "db": DB}
    proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "bxops.bitrix.bitrix_site_stopped",
                           "-a", json.dumps(args), *(["--check"] if check else [])],
                          env=env, text=True, capture_output=True, timeout=120, cwd=PROJECT)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert "s3cret-pw" not in proc.stdout
    return result


def stored(site: Path) -> str | None:
    path = site.parent / "site_stopped"
    return path.read_text().strip() if path.exists() else None


def test_closing_and_opening_the_public_part(site: Path) -> None:
    cache = site / "bitrix" / "managed_cache" / "MYSQL"
    (cache / "b_option").mkdir(parents=True)
    (cache / "b_option" / "main.php").write_text("cached options")
    (cache / "b_iblock").mkdir()
    # no row yet: the site is open; check mode says it would close it and changes nothing
    result = run(site, "stopped", check=True)
    assert (result["changed"], result["previous"], result["site_stopped"]) == (True, "N", "Y")
    assert stored(site) is None and (cache / "b_option" / "main.php").exists()
    # closing inserts the row (there was none) and drops only the option cache
    result = run(site, "stopped")
    assert (result["changed"], result["previous"], result["site_stopped"]) == (True, "N", "Y")
    assert stored(site) == "Y"
    assert (site.parent / "site_stopped.log").read_text().startswith("--execute=INSERT INTO b_option")
    assert sorted(p.name for p in cache.iterdir()) == ["b_iblock"]
    # again: nothing to do
    result = run(site, "stopped")
    assert (result["changed"], result["previous"]) == (False, "Y")
    assert len((site.parent / "site_stopped.log").read_text().splitlines()) == 1
    # opening updates the existing row
    result = run(site, "open")
    assert (result["changed"], result["previous"], result["site_stopped"]) == (True, "Y", "N")
    assert stored(site) == "N"
    assert (site.parent / "site_stopped.log").read_text().splitlines()[1].startswith("--execute=UPDATE b_option")
    assert run(site, "open")["changed"] is False


def test_a_docroot_that_is_not_a_bitrix_site_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "www"
    empty.mkdir()
    (tmp_path / "bin").mkdir()
    result = run(empty, "open")
    assert result["failed"] is True and result["msg"].endswith("(bitrix_docroot)")
    assert stored(empty) is None
