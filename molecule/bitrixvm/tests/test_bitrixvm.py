"""BitrixVM flavour: nginx -> Apache (prefork, mod_php) as the site user, two sites run through the real
playbooks over bitrix_sites (converge.yml): audit, backup, update (staging), cleanup, permissions, php_upgrade
(Apache's module swap 7.4 -> 8.2), certificates; the idempotence run changed nothing. Each site is checked
against its own truth.json. Last, a planted failure: playbooks/update.yml over both sites with fresh updates
where shop's smoke test fails after its update: www is updated, shop restored, the run names both."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import PROJECT, ephemeral

HOSTNAME = "bxops-bitrixvm-host"
testinfra_hosts = [f"podman://{HOSTNAME}"]  # podman exec: no ansible round trip per command
# Written by hand from images/bitrixvm-host and molecule.yml, not read from the code under test.
SITES = {
    "www": {"docroot": "/home/bitrix/www", "domain": "vm.bxops.test", "cron": "/etc/cron.d/bx_sitemanager",
            "db": "sitemanager", "packages": "/opt/bxops-update-server-www"},
    "shop": {"docroot": "/home/bitrix/ext_www/shop.bxops.test", "domain": "shop.bxops.test",
             "cron": "/etc/cron.d/bx_shop", "db": "shop", "packages": "/opt/bxops-update-server-shop"},
}
QUARANTINE = "/var/lib/bxops/quarantine"
BACKUPS = "/var/lib/bxops/backups"


def planted(site: str) -> dict[str, Any]:
    return json.loads((ephemeral() / "truth" / f"{HOSTNAME}-{site}.json").read_text())


def report(site: str, which: str) -> dict[str, Any]:
    """The audit's report of one site: reports/<host>/sites/<site>/audit-<first|latest>.json."""
    return json.loads((ephemeral() / "reports" / HOSTNAME / "sites" / site / f"audit-{which}.json").read_text())


def sh(script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A shell command on the host (podman exec, as testinfra's backend does, without its per-call overhead)."""
    proc = subprocess.run(["podman", "exec", HOSTNAME, "sh", "-c", script], capture_output=True, text=True,
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script!r} failed: {proc.stdout}{proc.stderr}")
    return proc


def py(code: str, *args: str) -> str:
    proc = subprocess.run(["podman", "exec", "-i", HOSTNAME, "python3", "-", *args], input=code,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# The module versions as the files on disk say (version.php), and as the DB says (the stand-in updaters'
# b_option ~bxops_db_version rows): read with the test's own code, not the collection's parser.
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


def disk_versions(site: str) -> dict[str, str]:
    return json.loads(py(VERSIONS, SITES[site]["docroot"]))


def db_versions(site: str) -> dict[str, str]:
    out = sh(f"mysql -N -B {SITES[site]['db']} -e \"SELECT MODULE_ID, VALUE FROM b_option "
             "WHERE NAME='~bxops_db_version'\"").stdout
    return dict(line.split("\t") for line in out.strip().splitlines())


# --- the converge's playbooks, each site against its truth.json ------------------------------------------

@pytest.mark.parametrize("site", sorted(SITES))
def test_audit_saw_nginx_apache_mod_php_74(site: str) -> None:
    first = report(site, "first")
    assert first["docroot"] == SITES[site]["docroot"]
    assert first["web_stack"] == {"kind": "nginx+apache_mod_php", "php_version": "7.4",
                                  "php_sapi": "apache2handler", "apache_user": "bitrix"}
    assert first["php"]["serving"]["version"] == "7.4"
    assert first["php"]["settings"]["checked"] is True  # the apache2 SAPI's php.ini was read


def _get(host, site: str, path: str, port: int = 80) -> tuple[str, str]:
    out = host.check_output(
        f"curl -s -D - -H 'Host: {SITES[site]['domain']}' http://127.0.0.1:{port}{path}")
    head, _, body = out.partition("\r\n\r\n")
    return head, body


@pytest.mark.parametrize("site", sorted(SITES))
def test_sites_answer_through_nginx_from_apache_on_php82(host, site: str) -> None:
    head, body = _get(host, site, "/bxops-phpversion.php")
    assert head.startswith("HTTP/1.1 200")
    assert re.search(r"(?mi)^server: nginx", head)  # nginx in front
    # Apache has one PHP module for all its vhosts: the shop moved with the default site
    assert body.strip() == "BXOPS-PHPVERSION 8.2 apache2handler"
    # and Apache itself, on the loopback port nginx proxies to, serves it
    head, body = _get(host, site, "/bxops-phpversion.php", port=8888)
    assert re.search(r"(?mi)^server: apache", head)
    assert body.strip() == "BXOPS-PHPVERSION 8.2 apache2handler"


def test_generated_home_pages_answer(host) -> None:
    for site in SITES:
        page = planted(site)["pages"][0]
        head, body = _get(host, site, page["url"])
        assert head.startswith("HTTP/1.1 200"), (site, page["url"], head[:200])
        assert page["marker"] in body


def test_php74_module_disabled_but_installed(host) -> None:
    assert not host.file("/etc/apache2/mods-enabled/php7.4.load").exists
    assert host.file("/etc/apache2/mods-enabled/php8.2.load").exists
    assert host.file("/etc/apache2/mods-available/php7.4.load").exists
    assert host.package("libapache2-mod-php7.4").is_installed
    assert host.package("libapache2-mod-php8.2").is_installed
    assert host.check_output("a2query -M") == "prefork"
    assert host.service("apache2").is_running


@pytest.mark.parametrize("site", sorted(SITES))
def test_each_sites_cron_runs_php82(host, site: str) -> None:
    line = next(x for x in host.file(SITES[site]["cron"]).content_string.splitlines() if "cron_events.php" in x)
    assert f"{SITES[site]['docroot']}/bitrix/modules/main/tools/cron_events.php" in line
    binary = re.search(r"\{\s*(\S*php\S*)\s+-f", line).group(1)
    resolved = host.check_output(f"readlink -f $(command -v {binary})")
    assert resolved == "/usr/bin/php8.2"
    version = "echo PHP_MAJOR_VERSION.'.'.PHP_MINOR_VERSION;"
    assert host.check_output(f'runuser -u bitrix -- {binary} -r "{version}"') == "8.2"


def test_apache_runs_as_the_site_user(host) -> None:
    users = set(host.check_output("ps -o user= -C apache2").split())
    assert "bitrix" in users  # the workers; the parent is root
    assert users <= {"root", "bitrix"}


@pytest.mark.parametrize("site", sorted(SITES))
def test_permissions_fixed_for_apaches_user(host, site: str) -> None:
    docroot = SITES[site]["docroot"]
    truth = planted(site)
    wrong_owner = truth["security"]["wrong_owner"]
    # planted: root's and www-data's files (www-data is the web user of the FPM flavour, not Apache's here)
    assert {w["owner"] for w in wrong_owner} == {"root", "www-data"}
    for wrong in wrong_owner:
        f = host.file(f"{docroot}/{wrong['path']}")
        assert (f.user, f.group) == ("bitrix", "bitrix"), wrong["path"]
    settings = host.file(f"{docroot}/bitrix/.settings.php")
    assert settings.user == "bitrix" and settings.mode in (0o600, 0o640)
    # nothing under the docroot is owned by another user than Apache's (bitrix)
    assert host.check_output(f"find {docroot} -xdev ! -user bitrix -print | head -5") == ""


@pytest.mark.parametrize("site", sorted(SITES))
def test_https_on_the_nginx_front_reaches_apache(host, site: str) -> None:
    conf = host.file("/etc/nginx/sites-enabled").listdir()
    assert len(conf) >= 2, conf  # bitrixvm.conf and the certificates role's HTTPS server blocks
    domain = SITES[site]["domain"]
    out = host.check_output(
        f"curl -s --cacert /dev/null -k --resolve {domain}:443:127.0.0.1 https://{domain}/bxops-phpversion.php")
    assert out == "BXOPS-PHPVERSION 8.2 apache2handler"
    cert = host.check_output(
        f"echo | openssl s_client -connect 127.0.0.1:443 -servername {domain} 2>/dev/null"
        " | openssl x509 -noout -issuer -ext subjectAltName")
    assert "Pebble" in cert
    assert re.findall(r"DNS:([^,\s]+)", cert) == [domain]  # each site its own certificate


@pytest.mark.parametrize("site", sorted(SITES))
def test_versions_on_disk_and_in_db_are_the_truths_targets(site: str) -> None:
    """playbooks/update.yml updated each site from its own stand-in update server (--packages-dir)."""
    targets = planted(site)["updates"]["available"]
    assert targets, "the generator planted no updates"
    assert planted(site)["updates"]["packages_dir"] == SITES[site]["packages"]
    on_disk, in_db = disk_versions(site), db_versions(site)
    for module, version in targets.items():
        assert on_disk[module] == version, f"{module} on disk"
        assert in_db[module] == version, f"{module} in b_option ~bxops_db_version"
    system = planted(site)["updates"]["update_system"]["available"]
    assert system, "the generator planted no update-system package"
    client = sh(f"cat {SITES[site]['docroot']}/bitrix/modules/main/classes/general/update_client.php").stdout
    assert system in client, "the update system did not upgrade itself"
    assert SITES[site]["packages"] in client  # the upgraded client still reads this site's own server


@pytest.mark.parametrize("site", sorted(SITES))
def test_the_idempotence_runs_audit_sees_the_updates_and_php82(site: str) -> None:
    latest = report(site, "latest")
    assert latest["docroot"] == SITES[site]["docroot"]
    assert latest["web_stack"]["php_version"] == "8.2"
    assert latest["php"]["serving"]["version"] == "8.2"
    for module, version in planted(site)["updates"]["available"].items():
        got = latest["core"]["version"] if module == "main" else latest["modules"][module]["version"]
        assert got == version, module


@pytest.mark.parametrize("site", sorted(SITES))
def test_old_orphans_of_each_site_went_to_quarantine(site: str) -> None:
    truth = planted(site)
    old, young = truth["cleanup"]["orphans"]["quarantine"], truth["cleanup"]["orphans"]["young"]
    assert old, "the generator planted no old orphans: the test proves nothing"
    docroot = SITES[site]["docroot"]
    batches = json.loads(py(r"""
import glob, json, os, sys
out = {}
for batch in sorted(glob.glob(sys.argv[1] + "/*/manifest.jsonl")):
    folder = os.path.dirname(batch)
    meta = json.load(open(folder + "/batch.json"))
    files = [os.path.relpath(os.path.join(d, n), folder + "/files") for d, _, ns in os.walk(folder + "/files")
             for n in ns]
    out[folder] = {"meta": meta, "manifest": [json.loads(x) for x in open(batch) if x.strip()], "files": files}
print(json.dumps(out))
""", QUARANTINE))
    mine = [b for b in batches.values() if b["meta"].get("docroot") == docroot]
    assert len(mine) == 1, {k: v["meta"] for k, v in batches.items()}
    assert sorted(entry["path"] for entry in mine[0]["manifest"]) == sorted(old)
    assert sorted(mine[0]["files"]) == sorted(old)
    # One exec for all paths (a podman exec per file took half a minute per site).
    state = json.loads(py(r"""
import json, os, sys
paths = {rel: os.path.join(sys.argv[1], rel) for rel in json.loads(sys.argv[2])}
print(json.dumps({"exists": [r for r, p in paths.items() if os.path.lexists(p)],
                  "files": [r for r, p in paths.items() if os.path.isfile(p)]}))
""", docroot, json.dumps(sorted(set(old) | set(young)))))
    assert [rel for rel in old if rel in state["exists"]] == [], "old orphans still in the docroot"
    assert [rel for rel in young if rel not in state["files"]] == [], "young orphans were moved"


@pytest.mark.parametrize("site", sorted(SITES))
def test_the_backup_run_covers_each_site(site: str) -> None:
    """playbooks/backup.yml's backup of each site (the oldest complete one of its docroot: the update's own
    pre-update backups came after it) holds the site's files as truth.json counts and digests them, and this
    site's own database."""
    docroot, truth = SITES[site]["docroot"], planted(site)
    found = json.loads(py(BACKUP_READ, BACKUPS, docroot))
    assert found, f"no complete backup of {docroot}"
    first = found[0]
    assert first["meta"]["db"]["database"] == SITES[site]["db"]
    assert set(truth["backup"]["db_tables"]) <= set(first["meta"]["db"]["tables"])
    assert sorted(first["meta"]["exclude"]) == sorted(truth["backup"]["exclude"])
    files = dict(first["files"])
    assert files.pop("bxops-phpversion.php", None), "prepare.yml's page is not in the backup"
    assert len(files) == truth["backup"]["files"]
    lines = "".join(f"{path}\0{sha}\n" for path, sha in sorted(files.items()))
    assert hashlib.sha256(lines.encode("utf-8", "surrogateescape")).hexdigest() == truth["backup"]["content_sha256"]


# The complete backups of one docroot, oldest first: backup.json, and from the manifest each regular file's
# sha256 (truth.json's backup.content_digest is computed over these: one line per path, sorted).
BACKUP_READ = r"""
import glob, json, os, sys
root, docroot = sys.argv[1], sys.argv[2]
out = []
for path in sorted(glob.glob(root + "/*/backup.json")):
    meta = json.load(open(path))
    if meta.get("docroot") != docroot or meta.get("status") != "complete":
        continue
    entries = (json.loads(x) for x in open(os.path.join(os.path.dirname(path), "manifest.jsonl")) if x.strip())
    out.append({"meta": meta, "files": {e["p"]: e["h"] for e in entries if e.get("t") == "f"}})
out.sort(key=lambda b: b["meta"]["created_ts"])
print(json.dumps(out))
"""


# --- a failure planted on one of two sites -----------------------------------------------------------------
# Fresh pending updates for this run (the converge updated both sites to truth's targets): a newer main (the
# site's own version.php one patch up, the generator's updater script) is published on each site's own
# stand-in update server. shop's smoke URL then asks for the home page's marker
# with the main version shop has now: after its update the page shows the new version, so shop's smoke test
# fails, the update restores shop's backup, and the restored page passes the same smoke URL again. www's smoke
# URLs are the inventory's. Runs last in this file: it moves www past truth's targets.

PUBLISH_MAIN = r"""
import json, os, re, sys
sys.path.insert(0, "/opt/bxsitegen")  # the generator's own package writers (prepare.yml copied it)
from bxsitegen import content
srv, docroot = sys.argv[1], sys.argv[2]
text = open(docroot + "/bitrix/modules/main/classes/general/version.php").read()
old = re.search(r"SM_VERSION['\"]\s*,\s*['\"]([0-9.]+)", text).group(1)
a, b, c = (int(x) for x in old.split("."))
new = "%d.%d.%d" % (a, b, c + 1)
d = "modules/main/" + new
os.makedirs(os.path.join(srv, d, "files/classes/general"))
open(os.path.join(srv, d, "files/classes/general/version.php"), "w").write(text.replace(old, new))
table = "b_main_bxops_u" + new.replace(".", "_")
open(os.path.join(srv, d, "updater%s.php" % new), "w").write(content.updater_script("main", new, table, False))
open(os.path.join(srv, d, "description.en"), "w").write("<ul><li>main %s: bxops test release.</li></ul>\n" % new)
idx = json.load(open(srv + "/index.json"))
idx["modules"]["main"] = [{"version": new, "date": "2023-01-10 10:00:00", "dir": d}]
json.dump(idx, open(srv + "/index.json", "w"), indent=2)
print(new)
"""

# Every docroot file outside the disposable folders (sha256; a symlink as its target) and every table
# (definition and CHECKSUM TABLE; b_agent without the run times that move on every page hit).
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
            files[r] = hashlib.sha256(open(p, "rb").read()).hexdigest()
def q(sql):
    return subprocess.run(["mysql", "-N", "-B", db, "-e", sql], capture_output=True, text=True,
                          check=True).stdout
tables = {}
for t in q("SHOW TABLES").split():
    create = re.sub(r" AUTO_INCREMENT=\d+", "", q("SHOW CREATE TABLE `%s`" % t))
    if t == "b_agent":
        body = q("SELECT ID, MODULE_ID, NAME, ACTIVE, AGENT_INTERVAL FROM b_agent ORDER BY ID")
    else:
        body = q("CHECKSUM TABLE `%s`" % t)
    tables[t] = hashlib.sha256((create + body).encode()).hexdigest()
print(json.dumps({"files": files, "tables": tables}))
"""


def snapshot(site: str) -> dict[str, Any]:
    return json.loads(py(SNAPSHOT, SITES[site]["docroot"], SITES[site]["db"]))


def home_page(site: str) -> str:
    return sh(f"curl -s -H 'Host: {SITES[site]['domain']}' http://127.0.0.1/").stdout


# The inventory's bitrix_sites (molecule.yml), written again here by hand, shop's smoke URL replaced.
def sites_with_shop_marker(marker: str) -> list[dict[str, Any]]:
    return [
        {"name": "www", "docroot": SITES["www"]["docroot"], "domains": ["vm.bxops.test"],
         "db": {"name": "sitemanager"}, "smoke_urls": ["/", "/bxops-phpversion.php"]},
        {"name": "shop", "docroot": SITES["shop"]["docroot"], "domains": ["shop.bxops.test"],
         "db": {"name": "shop"}, "smoke_urls": [{"path": "/", "status": 200, "marker": marker}]},
    ]


def tasks_named(run: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [task["hosts"][HOSTNAME] for play in run["plays"] for task in play["tasks"]
            if task["task"]["name"].endswith(name) and HOSTNAME in task["hosts"]]


@pytest.fixture(scope="module")
def planted_failure() -> dict[str, Any]:
    before = {site: disk_versions(site) for site in SITES}
    published = {site: py(PUBLISH_MAIN, SITES[site]["packages"], SITES[site]["docroot"]).strip() for site in SITES}
    marker = f"BXOPS-PAGE-OK home {before['shop']['main']}"
    assert marker in home_page("shop"), "the planted marker is not on shop's page before the run"
    shop_before = snapshot("shop")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"bitrix_sites": sites_with_shop_marker(marker)}, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               CONTAINERS_CONF=str(PROJECT / "images" / "containers.conf"))
    if "ANSIBLE_CONFIG" not in env and (ephemeral() / "ansible.cfg").exists():
        env["ANSIBLE_CONFIG"] = str(ephemeral() / "ansible.cfg")
    proc = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(PROJECT / "playbooks" / "update.yml"),
         "-e", "bxops_env=staging", "-e", f"@{handle.name}"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False)
    os.unlink(handle.name)
    return {"rc": proc.returncode, "run": json.loads(proc.stdout), "stderr": proc.stderr, "before": before,
            "published": published, "marker": marker, "shop_before": shop_before}


def test_planted_failure_run_fails_naming_both_sites(planted_failure) -> None:
    run = planted_failure["run"]
    assert planted_failure["rc"] == 2, planted_failure["stderr"][-2000:]
    (summary,) = tasks_named(run, "Summary of the sites")
    assert summary["msg"] == ["www: ok", "shop: failed"]
    (failure,) = [t for t in tasks_named(run, "Fail when a site failed") if t.get("failed")]
    assert " ".join(failure["msg"].split()) == "bxops.bitrix.update failed on site(s) shop (1 of 2 succeeded)"
    (record,) = tasks_named(run, "Record the sites' results (the runner reads common_sites_result from this "
                                 "task's event)")
    result = record["ansible_facts"]["common_sites_result"]
    assert [(r["name"], r["docroot"], r["status"]) for r in result] == [
        ("www", SITES["www"]["docroot"], "ok"), ("shop", SITES["shop"]["docroot"], "failed")]
    assert result[0]["message"] == ""
    message = " ".join(result[1]["message"].split())
    assert "smoke" in message.lower() or planted_failure["marker"] in message, message


def test_planted_failure_left_www_updated(planted_failure) -> None:
    new = planted_failure["published"]["www"]
    assert new != planted("www")["core"]["version"]
    assert disk_versions("www")["main"] == new
    assert db_versions("www")["main"] == new
    assert f"BXOPS-PAGE-OK home {new}" in home_page("www")


def test_planted_failure_restored_shop_byte_for_byte(planted_failure) -> None:
    before, after = planted_failure["shop_before"], snapshot("shop")
    changed = sorted(k for k in set(before["files"]) | set(after["files"])
                     if before["files"].get(k) != after["files"].get(k))
    assert changed == [], f"{len(changed)} docroot file(s) differ from before the run: {changed[:10]}"
    tables = sorted(k for k in set(before["tables"]) | set(after["tables"])
                    if before["tables"].get(k) != after["tables"].get(k))
    assert tables == [], f"DB table(s) differ from before the run: {tables}"
    # back to the versions it had: truth's core (no main update was planted) and truth's targets
    assert disk_versions("shop")["main"] == planted("shop")["core"]["version"]
    assert db_versions("shop")["main"] == planted("shop")["core"]["version"]
    for module, version in planted("shop")["updates"]["available"].items():
        assert disk_versions("shop")[module] == version and db_versions("shop")[module] == version, module
    assert planted_failure["marker"] in home_page("shop")
    assert sh("ls /var/lib/bxops/locks/*.lock", check=False).returncode != 0, "a site lock was left behind"
