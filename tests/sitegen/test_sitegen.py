"""The Bitrix site generator (tools/sitegen): determinism, truth.json against the disk, version styles, flags.

Local runs use --db-mode sqlfile (no MariaDB needed); the b_file rows are read back from the TSV the generator
loads with LOAD DATA. The testhost test at the end runs the real thing in a container."""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SITEGEN = PROJECT / "tools" / "sitegen"
sys.path.insert(0, str(SITEGEN))
sys.dont_write_bytecode = True  # molecule copies tools/sitegen/bxsitegen as it is

from bxsitegen import content  # noqa: E402

NOW = 1_760_000_000
# Version files in the real releases' shapes, written by hand apart from the generator with the values PHP sets
# (tests/fixtures/version_files/expected.json). The generator's files are checked against these shapes, not
# with the collection parser's own patterns.
VERSION_FILES = PROJECT / "tests" / "fixtures" / "version_files"
VERSION_FILE_VALUES = json.loads((VERSION_FILES / "expected.json").read_text())


def version_file_shape(text: str, version: str, date: str, kind: str) -> str | None:
    """The hand-written fixture (kind "module" or "core") that `text` is, once that fixture's version and date
    are replaced by `version` and `date`; None when the text is in none of the real shapes."""
    for name, values in VERSION_FILE_VALUES[kind].items():
        shape = (VERSION_FILES / name).read_bytes().decode("utf-8")
        if shape.replace(values["version"], version).replace(values["date"], date) == text:
            return name
    return None


def generate(base: Path, *args: str, docroot: str = "www") -> dict:
    env = dict(os.environ, PYTHONPATH=str(SITEGEN), PYTHONDONTWRITEBYTECODE="1")
    user = pwd.getpwuid(os.getuid()).pw_name
    cmd = [
        sys.executable,
        "-m",
        "bxsitegen",
        "--docroot",
        str(base / docroot),
        "--truth",
        str(base / "truth.json"),
        "--db-mode",
        "sqlfile",
        "--no-system-files",
        "--packages-dir",
        str(base / "updates"),
        "--site-user",
        user,
        "--now",
        str(NOW),
        "--force",
        *args,
    ]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return json.loads((base / "truth.json").read_text())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("site")
    return base, generate(base, "--seed", "11")


def test_same_seed_same_truth(tmp_path: Path, site: tuple[Path, dict]) -> None:
    base, truth = site
    # the same docroot path again: every path in truth.json is then identical
    again = generate(base, "--seed", "11")
    assert again == truth
    other = generate(tmp_path, "--seed", "12")
    assert other["modules"] != truth["modules"] or other["uploads"]["orphans"] != truth["uploads"]["orphans"]


def test_version_styles_are_the_real_shapes() -> None:
    module_shapes = {
        version_file_shape(content.module_version_php("23.100.200", "2023-05-01 10:00:00", style),
                           "23.100.200", "2023-05-01 10:00:00", "module")
        for style in range(content.MODULE_VERSION_STYLES)
    }
    assert module_shapes == set(VERSION_FILE_VALUES["module"]), "a style in no real shape, or a shape unused"
    core_shapes = {
        version_file_shape(content.core_version_php("22.400.100", "2022-11-03 12:00:00", style),
                           "22.400.100", "2022-11-03 12:00:00", "core")
        for style in range(content.CORE_VERSION_STYLES)
    }
    assert core_shapes == set(VERSION_FILE_VALUES["core"])


def test_modules_match_version_files(site: tuple[Path, dict]) -> None:
    base, truth = site
    root = base / "www"
    styles = set()
    assert len([m for m in truth["modules"] if m != "main"]) >= 15
    for mid, info in truth["modules"].items():
        if mid == "main":
            text = (root / "bitrix/modules/main/classes/general/version.php").read_text()
            assert truth["core"]["version"] == info["version"]
            assert version_file_shape(text, info["version"], truth["core"]["date"], "core"), text[:200]
            continue
        path = root / info["path"]
        assert path.is_dir()
        text = (path / "install/version.php").read_bytes().decode()
        styles.add((text.startswith("<?php"), "'VERSION'" in text, "[" in text, "\r\n" in text))
        assert version_file_shape(text, info["version"], info["date"], "module"), (mid, text[:200])
        assert info["marketplace"] == ("." in mid)
        # local wins: a local/ copy exists exactly when truth says so
        assert (root / "local/modules" / mid).is_dir() == (info["location"] == "local")
    assert len(styles) >= 4, "version.php styles should vary"
    overridden = [m for m, i in truth["modules"].items() if "shadowed" in i]
    assert overridden and all((root / truth["modules"][m]["shadowed"]["path"]).is_dir() for m in overridden)
    assert any(i["marketplace"] and i["installed"] for i in truth["modules"].values())
    assert any(not i["installed"] for i in truth["modules"].values())
    vote = truth["modules"]["vote"]["version"]
    assert tuple(map(int, vote.split("."))) < (21, 0, 100)
    assert truth["vulnerable_modules"] == [{"module": "vote", "version": vote, "cve": "CVE-2022-27228"}]


def _bfile_rows(base: Path) -> list[list[str]]:
    tsv = base / "db-sitemanager" / "b_file.tsv"
    return [line.split("\t") for line in tsv.read_text().splitlines()]


def test_uploads_truth_matches_disk_and_rows(site: tuple[Path, dict]) -> None:
    base, truth = site
    root = base / "www"
    up = truth["uploads"]
    rows = _bfile_rows(base)
    assert len(rows) == up["bfile_rows"]
    known: set[str] = set()
    names_by_key: dict[str, set[str]] = {}
    cloud = 0
    for row in rows:
        subdir, name, handler = row[7], row[8], row[11]
        rel = f"upload/{subdir}/{name}"
        if handler != "\\N":
            cloud += 1
            assert not (root / rel).exists()
            continue
        assert (root / rel).is_file(), rel
        known.add(rel)
        names_by_key.setdefault(name, set()).add(subdir)
    assert cloud == up["cloud_rows"] >= 1
    assert len(known) == up["registered_files"]
    assert sum((root / p).stat().st_size for p in known) == up["registered_bytes"]
    # duplicates point at the same physical file as their original
    by_id = {int(r[0]): r for r in rows}
    dup_tsv = (base / "db-sitemanager" / "b_file_duplicate.tsv").read_text().splitlines()
    assert len(dup_tsv) == up["duplicate_rows"] == len(up["duplicates"]) >= 3
    for d in up["duplicates"]:
        dup, orig = by_id[d["id"]], by_id[d["original_id"]]
        assert (dup[7], dup[8]) == (orig[7], orig[8])
        assert d["path"] == f"upload/{orig[7]}/{orig[8]}"
    # same FILE_NAME in different SUBDIRs: name-only keying is unsafe
    assert any(len(subdirs) > 1 for subdirs in names_by_key.values())
    # every file in the orphan scope is registered, content-referenced or a listed orphan, and nothing else
    excluded = [root / p for p in up["orphan_scope"]["excluded"]]
    on_disk = {}
    for dirpath, _dirs, files in os.walk(root / "upload"):
        if any(Path(dirpath) == e or e in Path(dirpath).parents for e in excluded):
            continue
        for fn in files:
            if fn in up["orphan_scope"]["excluded_names"]:
                continue
            full = Path(dirpath) / fn
            on_disk[str(full.relative_to(root))] = full.stat()
    orphans = {o["path"]: o for o in up["orphans"]}
    assert set(on_disk) == known | set(up["content_referenced"]) | set(orphans)
    assert not (known & set(orphans)) and not (known & set(up["content_referenced"]))
    for path, o in orphans.items():
        assert on_disk[path].st_size == o["size"] and int(on_disk[path].st_mtime) == o["mtime"]
    assert up["orphan_count"] == len(orphans) and up["orphan_bytes"] == sum(
        o["size"] for o in orphans.values()
    )
    ages = [NOW - o["mtime"] for o in orphans.values()]
    assert min(ages) < 86400 < max(ages), "orphans should be both young and old"
    orphan_names = {Path(p).name for p in orphans}
    assert orphan_names & set(names_by_key), "an orphan should share a FILE_NAME with a registered file"
    # content references really are in the content
    texts = (base / "db-sitemanager" / "b_iblock_element.tsv").read_text()
    texts += (root / "contacts/index.php").read_text() + (
        root / "local/templates/main/header.php"
    ).read_text()
    for rel in up["content_referenced"]:
        assert (root / rel).is_file() and "/" + rel in texts


def test_disposable_and_tmp_truth(site: tuple[Path, dict]) -> None:
    base, truth = site
    root = base / "www"
    for rel, stats in truth["disposable"].items():
        files = [p for p in (root / rel).rglob("*") if p.is_file()]
        assert stats == {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}, rel
        assert stats["files"] > 0, rel
    comp = truth["composite"]
    assert comp["enabled"] and all((root / p).is_file() for p in comp["config_files"])
    pages = list((root / "bitrix/html_pages").rglob("*.html"))
    assert len(pages) == comp["cached_pages"] and sum(p.stat().st_size for p in pages) == comp["cached_bytes"]
    tmp = truth["upload_tmp"]
    assert tmp["expired"] and tmp["live"]
    for rel in tmp["expired"] + tmp["live"]:
        assert (root / rel).is_dir()
        stamp = time.mktime(time.strptime(rel.split("BXTEMP-")[1], "%Y-%m-%d/%H"))
        assert (stamp < NOW) == (rel in tmp["expired"]), rel
    for rel in tmp["old_other"]:
        assert NOW - (root / rel).stat().st_mtime > 7 * 86400
    for rel in tmp["young_other"]:
        assert NOW - (root / rel).stat().st_mtime < 3600
    for b in truth["backups"]:
        st = (root / b["path"]).stat()
        assert (st.st_size, int(st.st_mtime)) == (b["size"], b["mtime"])
    assert len({b["mtime"] for b in truth["backups"]}) > 3


def test_settings_dbconn_license(site: tuple[Path, dict]) -> None:
    base, truth = site
    root = base / "www"
    settings = (root / "bitrix/.settings.php").read_text()
    for needle in (
        "'connections'",
        "'default'",
        "'className' => '\\\\Bitrix\\\\Main\\\\DB\\\\MysqliConnection'",
        "'cache_flags'",
        "'exception_handling'",
        "'composer'",
        "'config_path'",
        f"'database' => '{truth['db']['name']}'",
        f"'login' => '{truth['db']['user']}'",
    ):
        assert needle in settings, needle
    dbconn = (root / "bitrix/php_interface/dbconn.php").read_text()
    assert (
        'define("BX_FILE_PERMISSIONS", 0644);' in dbconn and 'define("BX_DIR_PERMISSIONS", 0755);' in dbconn
    )
    assert (truth["permissions"]["file_mode"], truth["permissions"]["dir_mode"]) == ("0644", "0755")
    assert re.search(r'\$LICENSE_KEY = "SMF-[A-Z0-9-]+";', (root / "bitrix/license_key.php").read_text())
    password = re.search(r"'password' => '([^']+)'", settings).group(1)  # type: ignore[union-attr]
    assert password not in json.dumps(truth)
    assert "SMF-" not in json.dumps(truth)
    sql = (base / "sitemanager.sql").read_text()
    assert "('main', 'upload_dir', 'upload', NULL)" in sql
    assert "('main', 'agents_use_crontab', 'Y', NULL)" in sql
    assert "'~bxops_db_version'" in sql


def test_planted_problems_and_php8(site: tuple[Path, dict], tmp_path: Path) -> None:
    base, truth = site
    root = base / "www"
    sec = truth["security"]
    assert set(sec["leftover_files"]) >= {"restore.php"} and len(sec["leftover_files"]) >= 2
    assert all((root / p).is_file() for p in sec["leftover_files"])
    assert all((root / p).stat().st_mode & 0o002 for p in sec["world_writable"]) and sec["world_writable"]
    assert "bitrix/.settings.php" in sec["readable_configs"] and sec["exposed_git"] == ".git"
    assert (root / "upload/1c_exchange/.htaccess").read_text().strip() == "Deny from All"
    bad = truth["custom_code"]["php8_incompatible"]
    assert {b["construct"] for b in bad} == {"each()", "create_function()"}
    for b in bad:
        line = (root / b["path"]).read_text().splitlines()[b["line"] - 1]
        assert b["construct"][:-1] in line
    assert any("catalog.section" in b["path"] for b in bad)
    assert [p["url"] for p in truth["pages"] if not p["php8_ok"]] == ["/catalog/"]

    clean = generate(tmp_path, "--seed", "11", "--php8-clean", "--no-planted-problems")
    assert clean["custom_code"]["php8_incompatible"] == []
    assert all(p["php8_ok"] for p in clean["pages"])
    sec = clean["security"]
    assert (
        sec["leftover_files"] == sec["world_writable"] == sec["readable_configs"] == sec["wrong_owner"] == []
    )
    assert sec["exposed_git"] is None
    assert (tmp_path / "www/upload/1c_exchange/.htaccess").is_file()
    assert clean["modules"] == truth["modules"]


def test_update_packages(site: tuple[Path, dict], tmp_path: Path) -> None:
    base, truth = site
    upd = truth["updates"]
    index = json.loads((base / "updates/index.json").read_text())
    assert set(upd["available"]) == set(index["modules"]) and len(upd["available"]) == 3
    for mid, versions in upd["versions"].items():
        current = truth["modules"][mid]["version"] if mid != "main" else truth["core"]["version"]
        for v in versions:
            pkg = base / "updates" / "modules" / mid / v
            vfile = pkg / (
                "files/classes/general/version.php" if mid == "main" else "files/install/version.php"
            )
            text = vfile.read_bytes().decode()
            date = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text)
            assert date and version_file_shape(text, v, date.group(0), "core" if mid == "main" else "module"), text
            assert tuple(map(int, v.split("."))) > tuple(map(int, current.split(".")))
            script = (pkg / f"updater{v}.php").read_text()
            assert "CREATE TABLE" in script and "~bxops_db_version" in script
    assert tuple(map(int, upd["available"]["vote"].split("."))) >= (21, 0, 100)
    none = generate(
        tmp_path,
        "--seed",
        "11",
        "--updates",
        "0",
        "--update-system",
        "--fault-module",
        "iblock",
        "--update-target",
        "iblock=99.0.0",
    )
    assert none["updates"]["available"] == {"iblock": "99.0.0"}
    assert none["updates"]["update_system"]["available"]
    assert (tmp_path / "updates/modules/iblock/99.0.0/FAIL_HALFWAY").exists()


def test_update_client_reads_the_sites_own_packages_dir(tmp_path: Path) -> None:
    """Two sites on one host each get their own stand-in update server (--packages-dir): the site's update
    client, and the one the update system upgrades itself to, fall back to that folder, not the default."""
    generate(tmp_path, "--seed", "12", "--update-system")
    server = str(tmp_path / "updates")
    fallback = "? '" + server + "' : $server"
    for client in (
        tmp_path / "www/bitrix/modules/main/classes/general/update_client.php",
        tmp_path / "updates/updater/21.300.0/files/bitrix/modules/main/classes/general/update_client.php",
    ):
        text = client.read_text()
        assert fallback in text, client
        assert "/opt/bxops-update-server'" not in text, client


# --- in a real test host --------------------------------------------------------------------------------


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True)


@pytest.fixture
def testhost(bitrix_test_host: str) -> str:
    """The session's test host (tests/conftest.py); each test generates its own site in it (--force)."""
    return bitrix_test_host


def _generate_in(name: str, *args: str) -> dict:
    gen = subprocess.run(
        [str(PROJECT / "scripts/sitegen-into.sh"), name, "--force", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert gen.returncode == 0, gen.stderr
    return json.loads(_podman("exec", name, "cat", "/var/lib/bxops-sitegen/truth.json").stdout)


def _db_version(name: str, module: str) -> str:
    sql = f"SELECT VALUE FROM b_option WHERE MODULE_ID='{module}' AND NAME='~bxops_db_version'"
    return _podman("exec", name, "mysql", "-N", "sitemanager", "-e", sql).stdout.strip()


@pytest.mark.testhost
def test_in_container_pages_and_console(testhost: str) -> None:
    name = testhost
    truth = _generate_in(name, "--seed", "5", "--fault-module", "fileman", "--core-version", "25.100.200")
    assert truth["core"]["console"] is True, "main 25.100.200 ships the console"
    for page in truth["pages"]:
        out = _podman("exec", name, "curl", "-s", "-w", "\n%{http_code}", "http://localhost" + page["url"]).stdout
        body, code = out.rsplit("\n", 1)
        assert code == "200", (page, body[-500:])
        assert f"{page['marker']} {truth['core']['version']}" in body

    def console(*args: str) -> subprocess.CompletedProcess[str]:
        return _podman(
            "exec", "-u", "bitrix", "-w", "/home/bitrix/www/bitrix", name, "php", "bitrix.php", *args, check=False
        )

    ok = console("update:modules", "-n", "-m", "vote")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"Installing vote ({truth['updates']['available']['vote']})... Done!" in ok.stdout
    assert "[OK] Updates installed successfully." in ok.stdout
    assert _db_version(name, "vote") == truth["updates"]["available"]["vote"]
    bad = console("update:modules", "-n", "-m", "fileman")
    assert bad.returncode == 1
    assert "[ERROR]" in bad.stdout and "[CL04] Module update failed." in bad.stdout
    assert _db_version(name, "fileman") == truth["modules"]["fileman"]["version"], "the DB step must not have run"
    left = _podman("exec", name, "ls", "/home/bitrix/www/bitrix/updates").stdout.split()
    assert any(x.startswith("update_m") for x in left)


@pytest.mark.testhost
def test_in_container_core_without_console_updates_through_cupdateclient_steps(testhost: str) -> None:
    """An older core (no bitrix.php): the collection's step script (module_utils) drives CUpdateClient, one
    PHP process per step, as the update role does; the update system first, then module by module."""
    sys.path.insert(0, str(PROJECT / "plugins" / "module_utils"))
    try:
        import bitrix_update_steps as steps  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    name = testhost
    truth = _generate_in(name, "--seed", "5", "--fault-module", "fileman", "--update-system")
    assert truth["core"]["console"] is False
    assert _podman("exec", name, "test", "-e", "/home/bitrix/www/bitrix/bitrix.php", check=False).returncode == 1
    subprocess.run(
        ["podman", "exec", "-i", name, "sh", "-c", "cat > /tmp/step.php; chmod 644 /tmp/step.php"],
        input=steps.STEP_PHP, text=True, check=True,
    )

    def step(*args: str) -> dict:
        out = _podman(
            "exec", "-u", "bitrix", "-e", "BXOPS_DOCROOT=/home/bitrix/www", "-w", "/home/bitrix/www", name,
            "php", "/tmp/step.php", *args, check=False,
        )
        answer = steps.parse_answer(out.stdout)
        assert answer is not None, out.stdout + out.stderr
        return answer

    listed = step("list")
    assert listed["state"] == "listed" and listed["system"] is True
    partner = step("list_partner")
    assert {m: v[-1] for m, v in partner["modules"].items()} == truth["updates"]["partner_available"]
    assert "acme.delivery" in truth["updates"]["partner_available"], "an installed Marketplace module has a release"
    assert {m: v[-1] for m, v in listed["modules"].items()} == truth["updates"]["available"]
    assert step("system")["state"] == "system_updated"
    client = _podman("exec", name, "cat", "/home/bitrix/www/bitrix/modules/main/classes/general/update_client.php")
    assert truth["updates"]["update_system"]["available"] in client.stdout
    assert step("list")["system"] is False, "a new process sees the upgraded update system"

    states = [step("step", "vote")["state"] for _ in range(3)]
    assert states == ["loaded", "installed", "finished"], states
    assert _db_version(name, "vote") == truth["updates"]["available"]["vote"]
    installed = _podman("exec", name, "cat", "/home/bitrix/www/bitrix/modules/vote/install/version.php").stdout
    assert truth["updates"]["available"]["vote"] in installed

    assert step("step", "fileman")["state"] == "loaded"
    failed = step("step", "fileman")
    assert failed["state"] == "error"
    assert "[UCDF061]" in failed["error"] and failed["error"].endswith("[CL04] Module update failed.")
    assert _db_version(name, "fileman") == truth["modules"]["fileman"]["version"], "the DB step must not have run"

    _podman("exec", name, "rm", "-f", "/home/bitrix/www/bitrix/license_key.php")
    assert step("list")["licence"] is True


def _get(name: str, url: str) -> tuple[str, str]:
    out = _podman("exec", name, "curl", "-s", "-w", "\n%{http_code}", "http://localhost" + url).stdout
    body, code = out.rsplit("\n", 1)
    return code, body


def _set_site_stopped(name: str, value: str) -> None:
    sql = (
        f"INSERT INTO b_option (MODULE_ID, NAME, VALUE) VALUES ('main', 'site_stopped', '{value}') "
        f"ON DUPLICATE KEY UPDATE VALUE = '{value}'"
    )
    _podman("exec", name, "mysql", "sitemanager", "-e", sql)


@pytest.mark.testhost
def test_in_container_site_stopped_answers_the_maintenance_page(testhost: str) -> None:
    """main.site_stopped = 'Y' closes the public part as real Bitrix does: 503 and the maintenance page."""
    name = testhost
    truth = _generate_in(name, "--seed", "6", "--no-planted-problems")
    assert truth["maintenance"] == {
        "option": {"module": "main", "name": "site_stopped", "closed": "Y"},
        "status": 503,
        "marker": "BXOPS-SITE-CLOSED",
        "page": "bitrix/modules/main/include/site_closed.php",
    }
    for page in truth["pages"]:
        code, body = _get(name, page["url"])
        assert code == "200" and page["marker"] in body and "BXOPS-SITE-CLOSED" not in body, (page, body[-300:])
    _set_site_stopped(name, "Y")
    for page in [*truth["pages"], {"url": "/no-such-page/", "marker": "404 Not Found"}]:
        code, body = _get(name, page["url"])
        assert code == "503", (page, body[-300:])
        assert "BXOPS-SITE-CLOSED" in body and page["marker"] not in body
    # the admin section and scripts that skip permission checks (cron agents) still work
    code, body = _get(name, "/bitrix/admin/index.php")
    assert code == "200" and "Admin section" in body
    cron = _podman(
        "exec", "-u", "bitrix", name, "php", "/home/bitrix/www/bitrix/modules/main/tools/cron_events.php", check=False
    )
    assert cron.returncode == 0 and "BXOPS-SITE-CLOSED" not in cron.stdout, cron.stdout + cron.stderr
    # the site's own maintenance page wins over the kernel's
    _podman(
        "exec", "-u", "bitrix", name, "sh", "-c",
        "mkdir -p /home/bitrix/www/local/php_interface/include && "
        "printf '<?php echo \"ACME-CLOSED-PAGE\";\\n' > /home/bitrix/www/local/php_interface/include/site_closed.php",
    )
    code, body = _get(name, "/")
    assert code == "503" and "ACME-CLOSED-PAGE" in body and "BXOPS-SITE-CLOSED" not in body, body[-300:]
    _set_site_stopped(name, "N")
    code, body = _get(name, "/")
    assert code == "200" and "BXOPS-PAGE-OK home" in body


@pytest.mark.testhost
def test_in_container_commented_versions_and_another_upload_dir(testhost: str) -> None:
    """PHP itself is the oracle for what a version file sets; the stand-in updater must read the same value."""
    name = testhost
    truth = _generate_in(
        name, "--seed", "7", "--commented-versions", "--odd-names", "--upload-dir", "files", "--core-version",
        "25.100.200",
    )
    for entry in truth["commented_versions"]:
        path = "/home/bitrix/www/" + entry["path"]
        code = (
            f"include '{path}'; echo SM_VERSION;"
            if entry["module"] == "main"
            else f"$arModuleVersion = array(); include '{path}'; echo $arModuleVersion['VERSION'];"
        )
        assert _podman("exec", name, "php", "-r", code).stdout.strip() == entry["version"], entry
    assert "iblock" in {e["module"] for e in truth["commented_versions"]}
    target = truth["updates"]["available"]["iblock"]
    out = _podman(
        "exec", "-u", "bitrix", "-w", "/home/bitrix/www/bitrix", name, "php", "bitrix.php", "update:modules", "-n",
        "-m", "iblock", check=False,
    )
    assert out.returncode == 0 and f"Installing iblock ({target})... Done!" in out.stdout, out.stdout + out.stderr
    assert _db_version(name, "iblock") == target
    # the site serves from files/, the odd names included
    assert _podman("exec", name, "test", "-e", "/home/bitrix/www/upload", check=False).returncode == 1
    for page in truth["pages"]:
        code, body = _get(name, page["url"])
        assert code == "200" and page["marker"] in body, page
    pic = next(c for c in truth["uploads"]["odd_names"]["content_referenced"] if c["path"].endswith("/pic name.jpg"))
    url = "http://localhost/" + pic["path"].replace(" ", "%20")
    code = _podman("exec", name, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url).stdout
    assert code == "200", url
