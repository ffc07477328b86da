"""The update scenario on real hosts: the staging gate and the promotion (converge), then fault
injections on staging driven through playbooks/update.yml, each compared byte for byte (docroot files
outside the disposable folders, DB schema and content) with the state before the run.

Order matters (pytest runs the file top to bottom): converge left both hosts updated; each fault test
publishes a newer package on the staging host's stand-in update server first, so there is work to do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

EPH = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
INVENTORY = Path(os.environ.get("MOLECULE_INVENTORY_FILE", EPH / "inventory" / "ansible_inventory.yml"))
STAGING, PRODUCTION = "bxops-update-staging", "bxops-update-production"
SERVER = "/opt/bxops-update-server"
STATE = "/var/lib/bxops"
CONSOLE_PAUSED = "/tmp/bxops-update-stand-in.paused"  # the stand-in's pause flag, outside the site


def truth(name: str) -> dict:
    return json.loads((EPH / "truth" / f"{name}.json").read_text())


def sh(name: str, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A shell command on a test host (podman exec: much faster than a testinfra round trip)."""
    proc = subprocess.run(["podman", "exec", name, "sh", "-c", script], capture_output=True, text=True,
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script!r} on {name} failed: {proc.stdout}{proc.stderr}")
    return proc


def py(name: str, code: str, *args: str) -> str:
    proc = subprocess.run(["podman", "exec", "-i", name, "python3", "-", *args], input=code,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


SNAPSHOT = r"""
import hashlib, json, os, re, subprocess, sys
root, db = sys.argv[1], sys.argv[2]
skip = {"bitrix/cache", "bitrix/cache_image", "bitrix/managed_cache", "bitrix/managed_flags",
        "bitrix/stack_cache", "bitrix/html_pages", "bitrix/tmp", "bitrix/updates", "bitrix/backup",
        "bitrix/local_cache", "upload/tmp", "upload/resize_cache"}
files = {}
for d, dirs, names in os.walk(root):
    rel = os.path.relpath(d, root)
    dirs[:] = [x for x in dirs if os.path.normpath(os.path.join(rel, x)) not in skip]
    for n in names:
        p = os.path.join(d, n)
        r = os.path.relpath(p, root)
        if os.path.islink(p):
            files[r] = "link:" + os.readlink(p)
        else:
            with open(p, "rb") as fh:
                files[r] = hashlib.sha256(fh.read()).hexdigest()
def q(sql):
    return subprocess.run(["mysql", "-N", "-B", db, "-e", sql], capture_output=True, text=True,
                          check=True).stdout
tables = {}
for t in q("SHOW TABLES").split():
    create = q("SHOW CREATE TABLE `%s`" % t)
    create = re.sub(r" AUTO_INCREMENT=\d+", "", create)
    if t == "b_agent":  # LAST_EXEC/NEXT_EXEC move on every page hit: normal site life
        body = q("SELECT ID, MODULE_ID, NAME, ACTIVE, AGENT_INTERVAL FROM b_agent ORDER BY ID")
    else:
        body = q("CHECKSUM TABLE `%s`" % t)
    tables[t] = hashlib.sha256((create + body).encode()).hexdigest()
print(json.dumps({"files": files, "tables": tables}))
"""

PUBLISH = r"""
import json, os, shutil, sys
srv, mod, installed = sys.argv[1], sys.argv[2], sys.argv[3]
idx = json.load(open(srv + "/index.json"))
last = idx["modules"][mod][-1]
old = last["version"]
a, b, c = max(tuple(int(x) for x in v.split(".")) for v in (old, installed))
new = "%d.%d.%d" % (a, b, c + 1)
src, dst = os.path.join(srv, last["dir"]), os.path.join(srv, "modules", mod, new)
shutil.copytree(src, dst)
for marker in ("FAIL_HALFWAY", "CORRUPT", "PAUSE_BEFORE_DB"):
    if os.path.exists(os.path.join(dst, marker)):
        os.unlink(os.path.join(dst, marker))
pairs = ((old, new), (old.replace(".", "_"), new.replace(".", "_")))
for d, _, names in os.walk(dst, topdown=False):
    for n in names:
        p = os.path.join(d, n)
        with open(p, encoding="utf-8", errors="surrogateescape") as fh:
            text = fh.read()
        for x, y in pairs:
            text, n2 = text.replace(x, y), n.replace(x, y)
            n = n2
        os.unlink(p)
        with open(os.path.join(d, n), "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
idx["modules"][mod].append(dict(last, version=new, dir="modules/%s/%s" % (mod, new)))
json.dump(idx, open(srv + "/index.json", "w"), indent=2)
print(new)
"""


def snapshot(name: str) -> dict:
    t = truth(name)
    return json.loads(py(name, SNAPSHOT, t["docroot"], t["db"]["name"]))


def assert_same(before: dict, after: dict) -> None:
    changed = sorted(k for k in set(before["files"]) | set(after["files"])
                     if before["files"].get(k) != after["files"].get(k))
    assert not changed, f"{len(changed)} docroot file(s) differ from before the update: {changed[:10]}"
    tables = sorted(k for k in set(before["tables"]) | set(after["tables"])
                    if before["tables"].get(k) != after["tables"].get(k))
    assert not tables, f"DB table(s) differ from before the update: {tables}"


def playbook(*extra: str, background: bool = False, env_name: str = "staging"):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
               CONTAINERS_CONF=str(PROJECT / "images" / "containers.conf"))
    if (EPH / "ansible.cfg").exists():
        env["ANSIBLE_CONFIG"] = str(EPH / "ansible.cfg")
    argv = ["ansible-playbook", "-i", str(INVENTORY), str(PROJECT / "playbooks" / "update.yml"),
            "-e", f"bxops_env={env_name}", *extra]
    if env_name == "production":  # faults on production too, to halve the scenario's time
        argv += ["-e", "update_skip_staging_gate=true"]
    if background:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=600)


def serves(name: str) -> str:
    """The home page's status, or what came instead of the page (the stand-in answers a closed site,
    main.site_stopped=Y, with 503 and its maintenance page, marker BXOPS-SITE-CLOSED)."""
    out = sh(name, "curl -s -w '\\n%{http_code}' http://127.0.0.1/").stdout
    body, _, code = out.rpartition("\n")
    if "BXOPS-SITE-CLOSED" in body:
        return f"{code.strip()} maintenance page"
    if "BXOPS-PAGE-OK home" not in body:
        return f"{code.strip()} without the home page's marker"
    return code.strip()


def site_stopped(name: str) -> str:
    t = truth(name)
    return sh(name, f"mysql -N -B {t['db']['name']} -e \"SELECT VALUE FROM b_option WHERE MODULE_ID='main' "
                    "AND NAME='site_stopped'\"").stdout.strip() or "N"


def no_leftovers(name: str) -> None:
    assert sh(name, f"test ! -e {STATE}/update/journal.json", check=False).returncode == 0, "journal left"
    assert sh(name, f"ls {STATE}/locks/*.lock", check=False).returncode != 0, "site lock left behind"
    assert site_stopped(name) == "N", "the public part is still closed"
    assert serves(name) == "200"


VERSIONS = r"""
import json, os, re, sys
root = sys.argv[1]
out = {}
for m in os.listdir(root + "/bitrix/modules"):
    rel = "main/classes/general/version.php" if m == "main" else m + "/install/version.php"
    path = root + "/bitrix/modules/" + rel
    if os.path.isfile(path):
        text = open(path).read()
        found = re.search(r"(?:SM_VERSION['\"]\s*,|['\"]VERSION['\"]\s*=>)\s*['\"]([0-9.]+)", text)
        out[m] = found.group(1) if found else None
print(json.dumps(out))
"""


def disk_versions(name: str) -> dict:
    return json.loads(py(name, VERSIONS, truth(name)["docroot"]))


def db_versions(name: str) -> dict:
    t = truth(name)
    out = sh(name, f"mysql -N -B {t['db']['name']} -e \"SELECT MODULE_ID, VALUE FROM b_option "
                   "WHERE NAME='~bxops_db_version'\"").stdout
    return dict(line.split("\t") for line in out.strip().splitlines())


@pytest.fixture
def published():
    """Publish a newer package of a module on a host's update server; unpublish after the test."""
    made: dict[str, list[str]] = {}

    def publish(module: str, name: str = STAGING) -> str:
        if name not in made:
            sh(name, f"cp -a {SERVER}/index.json /tmp/index.json.orig")
            made[name] = []
        version = py(name, PUBLISH, SERVER, module, disk_versions(name)[module]).strip()
        made[name].append(f"{SERVER}/modules/{module}/{version}")
        return version

    yield publish
    for name, dirs in made.items():
        sh(name, f"cp -a /tmp/index.json.orig {SERVER}/index.json; rm -rf {' '.join(dirs)} "
                 f"{SERVER}/PAUSE_BEFORE_DB")


# --- converge: the gate and the promotion ----------------------------------------------------------

def test_production_was_refused_before_staging_ran():
    refusal = (EPH / "production-refused.txt").read_text()
    assert "staging gate" in refusal
    assert "no staging promotion record" in refusal
    assert "-e bxops_env=staging" in refusal


def test_staging_has_no_console_and_production_has_one():
    """So that converge and the faults below go through both updater paths: CUpdateClient's steps on
    staging, the console on production."""
    assert truth(STAGING)["core"]["console"] is False
    assert sh(STAGING, "test ! -e /home/bitrix/www/bitrix/bitrix.php", check=False).returncode == 0
    assert truth(PRODUCTION)["core"]["console"] is True


@pytest.mark.parametrize("name", [STAGING, PRODUCTION])
def test_versions_on_disk_and_in_db_are_the_targets(name):
    targets = truth(name)["updates"]["available"]
    assert targets, "the generator planted no updates"
    on_disk, in_db = disk_versions(name), db_versions(name)
    for module, version in targets.items():
        assert on_disk[module] == version, f"{module} on disk"
        assert in_db[module] == version, f"{module} in b_option ~bxops_db_version"
    system = truth(name)["updates"]["update_system"]["available"]
    if system:
        client = sh(name, "cat /home/bitrix/www/bitrix/modules/main/classes/general/update_client.php").stdout
        assert system in client, "the update system did not upgrade itself"
    no_leftovers(name)


def test_staging_left_a_passing_promotion_record_with_its_versions():
    text = next(EPH.glob(f"**/promotions/update-staging.{STAGING}.md")).read_text()
    assert text.startswith(f"# Staging promotion record: {STAGING}")
    record = json.loads(text.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert record["smoke_passed"] is True
    assert record["environment"] == "staging"
    for module, version in truth(STAGING)["updates"]["available"].items():
        assert record["targets"][module] == version
        assert record["versions"][module] == version
    assert time.time() - record["finished_epoch"] < 3600


def test_changelog_has_each_update_once_per_host():
    changelog = next(EPH.glob("**/CHANGELOG.md")).read_text()
    assert changelog.startswith("# Changelog of molecule")
    rows = [line for line in changelog.splitlines() if line.startswith("| 20")]
    assert len(rows) == len(set(rows)), "duplicate changelog entries"
    for name, env in ((STAGING, "staging"), (PRODUCTION, "production")):
        t = truth(name)
        for module, version in t["updates"]["available"].items():
            start = t["core"]["version"] if module == "main" else t["modules"][module]["version"]
            wanted = f"| {env} | {name} | {module} | {start} → {version} |"
            assert sum(wanted in row for row in rows) == 1, wanted


def test_marketplace_releases_are_listed_and_left_alone():
    """Partner modules' newer releases (CUpdateClientPartner's list) are reported, and not installed."""
    partner = truth(STAGING)["updates"]["partner_available"]
    assert partner, "the generator published no partner release"
    before = disk_versions(STAGING)
    listed = playbook("-e", "update_apply=false")
    assert listed.returncode == 0, said(listed)[-3000:]
    for module, version in partner.items():
        installed = truth(STAGING)["modules"][module]["version"]
        assert f"{module} {installed} → {version}" in said(listed)
    assert disk_versions(STAGING) == before


# --- fault injection: each run rolls back to exactly the state before it ---------------------------

def updatable(index: int) -> str:
    """One of the modules the generator published updates for (converge installed them)."""
    modules = sorted(truth(STAGING)["updates"]["available"])
    return modules[index % len(modules)]


def said(result: subprocess.CompletedProcess[str]) -> str:
    """Everything the run printed, with the callback's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def finish(proc: subprocess.Popen) -> str:
    out = proc.communicate(timeout=900)[0] or ""
    return " ".join(out.split())


def test_cl04_and_ucdf04_are_rolled_back_byte_for_byte(published):
    """[CL04] half-way on staging (CUpdateClient's steps) and [UCDF04] on production (the console), at the
    same time."""
    module = updatable(0)
    version = published(module, STAGING)
    sh(STAGING, f"touch {SERVER}/modules/{module}/{version}/FAIL_HALFWAY")
    other = updatable(1)
    published(other, PRODUCTION)
    folder = f"/home/bitrix/www/bitrix/modules/{other}/lib"
    before = {STAGING: snapshot(STAGING), PRODUCTION: snapshot(PRODUCTION)}
    sh(PRODUCTION, f"chown root:root {folder} && chmod 0755 {folder}")
    try:
        cl04 = playbook(background=True)
        ucdf04 = playbook(background=True, env_name="production")
        said_cl04, said_ucdf04 = finish(cl04), finish(ucdf04)
    finally:
        sh(PRODUCTION, f"chown bitrix:bitrix {folder}")
    assert cl04.returncode != 0, said_cl04[-3000:]
    assert ucdf04.returncode != 0, said_ucdf04[-3000:]
    for name in (STAGING, PRODUCTION):
        assert_same(before[name], snapshot(name))
        no_leftovers(name)
    assert "half-way (CL04)" in said_cl04
    assert "was restored (files and database) and the site serves again" in said_cl04
    assert f"folder {folder} is not writable by the site user bitrix (UCDF04)" in said_ucdf04
    assert "was restored (files and database) and the site serves again" in said_ucdf04


def test_killed_run_is_recovered_lock_refuses_and_failed_smoke_test_rolls_back(published):
    """Staging (CUpdateClient's steps): a run killed between file copy and DB step (a second run meanwhile
    is refused by the lock), then recovered by the next run. Production, at the same time: a smoke test failing after a
    successful update."""
    published(updatable(2), PRODUCTION)
    before_production = snapshot(PRODUCTION)
    smoke = playbook("-e", '{"update_smoke_urls": [{"path": "/", "status": 200, '
                           '"marker": "BXOPS-NO-SUCH-MARKER"}]}', background=True, env_name="production")
    published(updatable(0))
    before = snapshot(STAGING)
    sh(STAGING, f"echo 900 > {SERVER}/PAUSE_BEFORE_DB")
    first = playbook("-e", "bxops_run_id=killed-run", background=True)
    try:
        deadline = time.time() + 480
        while sh(STAGING, f"test -f {CONSOLE_PAUSED}", check=False).returncode != 0:
            assert first.poll() is None, "the first run ended early:\n" + (first.communicate()[0] or "")
            assert time.time() < deadline, "the updater never reached the pause between copy and DB step"
            time.sleep(1)
        second = playbook("-e", "bxops_run_id=second-run")
        assert second.returncode != 0
        assert "site is locked by run killed-run (update)" in said(second)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # the host went down with the run: the module and the PHP step die too
    pids = sh(STAGING, f"cat {CONSOLE_PAUSED} | cut -d' ' -f1; "
                       "python3 -c \"import json; "
                       f"print(json.load(open('{STATE}/update/journal.json'))['pid'])\"")
    sh(STAGING, "kill -9 " + " ".join(pids.stdout.split()))
    sh(STAGING, f"rm -f {SERVER}/PAUSE_BEFORE_DB {CONSOLE_PAUSED}")  # the killed stand-in left its flag
    assert sh(STAGING, f"test -f {STATE}/update/journal.json", check=False).returncode == 0
    recovery = playbook("-e", "update_apply=false")
    assert recovery.returncode == 0, said(recovery)[-3000:]
    assert "recovered interrupted run killed-run" in said(recovery)
    assert_same(before, snapshot(STAGING))
    no_leftovers(STAGING)

    said_smoke = finish(smoke)
    assert smoke.returncode != 0, said_smoke[-3000:]
    assert_same(before_production, snapshot(PRODUCTION))
    no_leftovers(PRODUCTION)
    assert 'failed at "Smoke test the updated site"' in said_smoke
    assert "marker 'BXOPS-NO-SUCH-MARKER' not found" in said_smoke
    assert "the site serves again" in said_smoke


def test_bad_input_is_refused_before_any_change_naming_the_variable(published):
    module = updatable(0)
    short = updatable(1)
    first = published(short)
    published(short)  # two pending versions: CUpdateClient's steps (staging) cannot stop at the first
    partner = sorted(m for m, info in truth(STAGING)["modules"].items() if info.get("marketplace"))[0]
    sh(STAGING, "mkdir -p /tmp/nocreds/bitrix/modules/main/classes/general && cp /home/bitrix/www/bitrix/modules/"
                "main/classes/general/version.php /tmp/nocreds/bitrix/modules/main/classes/general/ && "
                "echo '<?php return array();' > /tmp/nocreds/bitrix/.settings.php")
    cases = {
        "missing_db_credentials": ('{"bitrix_docroot": "/tmp/nocreds"}', "update_db_credentials"),
        "update_modules": ('{"update_modules": ["nosuchmodule"]}',
                           "update_modules names module(s) not installed on this site: nosuchmodule"),
        "marketplace": (f'{{"update_modules": ["{partner}"]}}', "update_modules names Marketplace module(s)"),
        "update_target_versions": (f'{{"update_target_versions": {{"{module}": "1.0.0"}}}}',
                                   "update_target_versions asks for a version lower than installed"),
        "backup_dir": ('{"backup_dir": "/home/bitrix/www/upload/backups"}', "backup_dir"),
        "bitrix_docroot": ('{"bitrix_docroot": "/home/bitrix/ext_www"}', "not a 1C-Bitrix site"),
        "short_of_newest": (f'{{"update_target_versions": {{"{short}": "{first}"}}}}',
                            f"cannot stop at {short} {first} (the server offers"),
    }
    before = snapshot(STAGING)
    runs = {name: playbook("-e", extra, background=True) for name, (extra, _) in cases.items()}
    for name, proc in runs.items():
        out = " ".join(proc.communicate(timeout=600)[0].split())
        assert proc.returncode != 0, name
        assert "Refused before any change" in out and cases[name][1] in out, (name, out[-1500:])
    assert_same(before, snapshot(STAGING))
    assert sh(STAGING, "test ! -e /home/bitrix/www/upload/backups", check=False).returncode == 0
