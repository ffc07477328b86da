#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_audit
short_description: Audit a 1C-Bitrix site in one pass on the host
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
description:
  - Collects, read-only, what the monthly audit reports for one site, and returns it as one document
    following the versioned schema C(bxops.audit/2) (see the audit role's README and
    C(roles/audit/files/audit-report.schema.json)).
  - Core and module versions, PHP versions installed and serving, the php.ini settings Bitrix requires,
    DB size, disk and inode use, disposable folder sizes, uploads and an orphan estimate, certificate
    expiry per domain, home page status and response time, agents and cron mode, security findings.
  - What the site is wired to (C(integrations)) - the 1C exchange, payment systems and delivery services, REST
    applications and webhooks, Marketplace modules, SMTP, cloud buckets, cron jobs and the agents of its own
    code - with WHERE each key lives (C(table.column (ID=n)) or the option), never its value; and the site's own
    code (C(components)) - modules in C(local/) and dotted modules, custom components, site templates and
    overridden vendor templates with their sizes and last change.
  - Walks the docroot once; never changes anything; safe in check mode.
  - The site is untrusted. The walk starts from a descriptor of the docroot and never follows a symlink
    (sizes are never counted through a symlinked folder). C(main.upload_dir) must be a plain relative path
    inside the docroot and the upload root a real folder; otherwise C(uploads.error) says why, a
    C(upload-dir-unsafe) finding is reported, and nothing is walked or estimated through it.
options:
  domains:
    description: The site's domain names (the first is the Host header of the page check).
    type: list
    elements: str
    default: []
  site_user:
    description: The user the site runs as.
    type: str
    default: bitrix
  home_url:
    description: URL of the home page check, fetched from the host itself.
    type: str
    default: http://127.0.0.1/
  page_timeout:
    description: Seconds to wait for the home page.
    type: float
    default: 10
  served_certificates:
    description:
      - The certificates the web server serves, one per domain, as the audit role reads them with
        C(community.crypto.get_certificate) (C(roles/common/tasks/served_certificates.yml)); each
        C(domain), C(served), C(not_after) (C(YYYYmmddHHMMSSZ)) and C(error).
      - Reported in the report's C(certificates) with the days left; a served certificate that expired, or expires
        within 14 days, is a security finding.
    type: list
    elements: dict
    default: []
  nginx_conf_dir:
    description: Where nginx's configuration lives (to find the PHP-FPM socket serving the site).
    type: path
    default: /etc/nginx
  php_conf_dir:
    description: Where PHP versions keep their configuration (C(/etc/php/<version>)).
    type: path
    default: /etc/php
  cron_dirs:
    description: Folders of cron files searched for the agents' cron job.
    type: list
    elements: path
    default: [/etc/cron.d, /var/spool/cron/crontabs]
"""

EXAMPLES = r"""
- name: Audit the site
  bxops.bitrix.bitrix_audit:
    docroot: /home/bitrix/www
    domains: [www.example.com]
  register: __audit_result
"""

RETURN = r"""
report:
  description: The audit document (schema bxops.audit/2).
  type: dict
  returned: success
"""

import glob
import json
import os
import re
import stat
import subprocess
import time
from datetime import datetime, timezone
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    DOCROOT_OPTION,
    Anchor,
    UnsafePath,
    describe,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import DISPOSABLE_FOLDERS
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_integrations import (
    collect_components,
    collect_integrations,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_orphans import (
    MysqlSource,
    OrphansError,
    find_orphans,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    db_credentials,
    find_modules,
    option_value,
    read_core_version,
    read_dbconn_constants,
    resolve_upload_dir,
    version_tuple,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_smoke import fetch
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_webstack import detect as detect_web_stack

SCHEMA = "bxops.audit/2"

DISPOSABLE = DISPOSABLE_FOLDERS  # the domain brief's list, from module_utils/bitrix_facts
LEFTOVER_NAMES = (
    "restore.php", "bitrix_server_test.php", "bitrixsetup.php", "bitrix_install.php", "bitrix_setup.php",
    "bitrix6setup.php", "bitrix7setup.php", "bitrix8setup.php", "export_file.csv", "1c_bx_import.php",
)
SECRET_CONFIGS = (
    "bitrix/.settings.php", "bitrix/.settings_extra.php", "bitrix/php_interface/dbconn.php",
    "local/php_interface/dbconn.php", "local/.settings.php", "bitrix/license_key.php",
)
WORLD_WRITABLE_FLAGGED = (".php", ".js", ".htaccess", ".html", ".htm")
VOTE_FIXED = (21, 0, 100)
FILEMAN_WARN_BELOW = (20, 0, 0)  # inference: builds before 2020 carried the abused html_editor_action.php
# Minimum PHP the site checker demands, by core version (brief section 5).
PHP_MIN_BY_CORE = (((25, 100, 200), (8, 1)), ((23, 900, 550), (8, 0)), ((20, 100, 0), (7, 4)))
PHP_EOL = {"7.4": "2022-11-28", "8.0": "2023-11-26", "8.1": "2025-12-31", "8.2": "2026-12-31",
           "8.3": "2027-12-31", "8.4": "2028-12-31"}


def _finding(fid: str, severity: str, title: str, detail: str, paths: list[str] | None = None) -> dict[str, Any]:
    return {"id": fid, "severity": severity, "title": title, "detail": detail, "paths": sorted(paths or [])}


class TreeWalk:
    """One pass over the docroot: sizes per disposable folder, uploads, world-writable files, .git.

    Walked from the docroot's descriptor: a symlink is never followed (a symlinked folder counts as
    nothing), unreadable folders are skipped. ``upload_dir`` None counts no uploads (an unsafe option).
    """

    def __init__(self, docroot: str, upload_dir: str | None) -> None:
        self.docroot = docroot
        self.upload_dir = upload_dir.strip("/") if upload_dir is not None else None
        self.disposable = {rel: {"files": 0, "bytes": 0, "exists": False} for rel in DISPOSABLE}
        self.upload = {"files": 0, "bytes": 0}
        self.world_writable: list[str] = []
        self.total = {"files": 0, "dirs": 0, "bytes": 0}

    def _category(self, rel: str) -> str | None:
        for prefix in DISPOSABLE:
            if rel == prefix or rel.startswith(prefix + "/"):
                return prefix
        return None

    def run(self) -> None:
        upload_prefix = self.upload_dir + "/" if self.upload_dir is not None else None
        with Anchor(self.docroot) as anchor:
            for entry in anchor.walk("", on_error=lambda _rel, _exc: None):
                rel, st = entry.rel, entry.st
                if entry.is_dir:
                    self.total["dirs"] += 1
                    if rel in self.disposable:
                        self.disposable[rel]["exists"] = True
                    continue
                if not entry.is_file:
                    continue
                self.total["files"] += 1
                self.total["bytes"] += st.st_size
                if st.st_mode & stat.S_IWOTH:
                    self.world_writable.append(rel)
                category = self._category(rel)
                if category:
                    self.disposable[category]["files"] += 1
                    self.disposable[category]["bytes"] += st.st_size
                    continue
                if upload_prefix is not None and rel.startswith(upload_prefix):
                    self.upload["files"] += 1
                    self.upload["bytes"] += st.st_size


def upload_root(docroot: str, value: str | None) -> tuple[str | None, str | None]:
    """The upload folder from ``main.upload_dir`` (validated) and, when it cannot be used, why (one line).

    A value that is not a plain relative path (``..``, control characters) or an upload root reached
    through a symlink is refused: the audit reports it and walks nothing through it."""
    try:
        rel = resolve_upload_dir(value)
        with Anchor(docroot) as anchor:
            anchor.require_dir(rel, "upload root (main.upload_dir)")
    except UnsafePath as exc:
        return None, str(exc)
    return rel, None


def _orphan_estimate(docroot: str, upload_dir: str, client: MysqlClient) -> dict[str, Any]:
    """The cleanup role's own orphan report (same rules, streamed), young files included."""
    try:
        found = find_orphans(docroot, upload_dir, MysqlSource(client), {"sample_size": 20, "min_age": 0})
    except OrphansError as exc:
        return {"orphan_estimate_error": str(exc)}
    orphans = found["orphans"]
    cloud = client.scalar("SELECT COUNT(*) FROM b_file WHERE HANDLER_ID IS NOT NULL AND HANDLER_ID NOT IN ('', '0')")
    return {
        "b_file_rows": found["referenced"]["db_rows"],
        "cloud_rows": int(cloud or 0),
        "orphan_estimate": {"files": orphans["count"], "bytes": orphans["bytes"], "sample": orphans["sample"],
                            "by_folder": orphans["by_folder"], "by_age": orphans["by_age"]},
    }


def _php_versions(php_conf_dir: str) -> list[str]:
    versions = set()
    for binary in glob.glob("/usr/bin/php[0-9].[0-9]*"):
        match = re.search(r"php(\d+\.\d+)$", binary)
        if match:
            versions.add(match.group(1))
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def _serving_php(nginx_conf_dir: str, php_conf_dir: str) -> dict[str, Any]:
    """The PHP-FPM pool nginx hands the site's PHP to: socket from nginx, version from the pool file."""
    sockets: set[str] = set()
    for path in glob.glob(os.path.join(nginx_conf_dir, "**", "*"), recursive=True):
        if os.path.isfile(path) and "sites-available" not in path:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError:
                continue
            text = re.sub(r"#[^\n]*", "", text)
            sockets.update(re.findall(r"unix:(/[^\s;:]+)", text))
    for pool in sorted(glob.glob(os.path.join(php_conf_dir, "*", "fpm", "pool.d", "*.conf"))):
        try:
            with open(pool, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        listen = re.search(r"^\s*listen\s*=\s*(\S+)", text, re.M)
        user = re.search(r"^\s*user\s*=\s*(\S+)", text, re.M)
        if listen and listen.group(1) in sockets:
            version = pool.split(os.sep)[-4]
            return {"version": version, "pool": pool, "socket": listen.group(1),
                    "user": user.group(1) if user else None}
    return {"version": None, "pool": None, "socket": None, "user": None}


INI_SCRIPT = r"""
$names = json_decode($argv[1], true); $out = array('ini' => array(), 'ext' => array());
foreach ($names as $n) { $v = ini_get($n); $out['ini'][$n] = ($v === false) ? null : $v; }
foreach (get_loaded_extensions() as $e) { $out['ext'][] = strtolower($e); }
$out['gd'] = function_exists('gd_info') ? gd_info() : null; $out['version'] = PHP_VERSION;
echo json_encode($out);
"""
INI_NAMES = ["opcache.revalidate_freq", "max_input_vars", "default_socket_timeout", "zend.multibyte",
             "mbstring.func_overload", "session.auto_start", "file_uploads", "default_charset",
             "allow_url_include", "display_errors", "session.cookie_httponly", "session.use_only_cookies",
             "short_open_tag", "memory_limit", "date.timezone"]
REQUIRED_EXTENSIONS = ["gd", "zlib", "hash", "openssl", "mbstring", "dom", "zip", "mysqli", "curl",
                       "zend opcache"]


def _on(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "on", "yes", "true")


def _php_settings(version: str | None, php_conf_dir: str, pool: str | None, sapi: str = "fpm") -> dict[str, Any]:
    """Effective settings of the serving version and SAPI (fpm or apache2: its php.ini and conf.d, then the
    pool's overrides)."""
    if not version:
        return {"checked": False, "reason": "no PHP-FPM pool or Apache PHP module serves the site", "checks": [],
                "passed": False}
    binary = "/usr/bin/php%s" % version
    env = dict(os.environ, PHP_INI_SCAN_DIR=os.path.join(php_conf_dir, version, sapi, "conf.d"))
    proc = subprocess.run(
        [binary, "-c", os.path.join(php_conf_dir, version, sapi, "php.ini"), "-r", INI_SCRIPT,
         json.dumps(INI_NAMES)], capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        return {"checked": False, "reason": "%s could not report its settings" % binary, "checks": [],
                "passed": False}
    data = json.loads(proc.stdout.decode("utf-8", "replace"))
    ini: dict[str, str | None] = data["ini"]
    if pool:
        with open(pool, encoding="utf-8", errors="replace") as handle:
            for name, value in re.findall(r"^\s*php_(?:admin_)?(?:value|flag)\[([^\]]+)\]\s*=\s*(.*?)\s*$",
                                          handle.read(), re.M):
                if name in ini:
                    ini[name] = value

    def as_int(name: str) -> int:
        try:
            return int(str(ini.get(name) or "0").strip())
        except ValueError:
            return 0

    rules = [
        ("opcache.revalidate_freq", "0", as_int("opcache.revalidate_freq") == 0),
        ("max_input_vars", ">= 10000", as_int("max_input_vars") >= 10000),
        ("default_socket_timeout", ">= 60", as_int("default_socket_timeout") >= 60),
        ("zend.multibyte", "0", not _on(ini.get("zend.multibyte"))),
        ("mbstring.func_overload", "0", as_int("mbstring.func_overload") == 0),
        ("session.auto_start", "0", not _on(ini.get("session.auto_start"))),
        ("file_uploads", "1", _on(ini.get("file_uploads"))),
        ("default_charset", "UTF-8", str(ini.get("default_charset") or "").upper() == "UTF-8"),
        ("allow_url_include", "Off", not _on(ini.get("allow_url_include"))),
        ("display_errors", "Off", not _on(ini.get("display_errors"))
         and str(ini.get("display_errors") or "").lower() not in ("stderr", "stdout")),
        ("session.cookie_httponly", "On", _on(ini.get("session.cookie_httponly"))),
        ("session.use_only_cookies", "On", _on(ini.get("session.use_only_cookies"))),
    ]
    checks = [{"name": n, "expected": e, "actual": ini.get(n), "passed": bool(ok)} for n, e, ok in rules]
    loaded = set(data["ext"])
    for ext in REQUIRED_EXTENSIONS:
        checks.append({"name": "extension " + ext, "expected": "loaded", "actual":
                       "loaded" if ext in loaded else "missing", "passed": ext in loaded})
    gd = data.get("gd") or {}
    gd_ok = bool(gd.get("JPEG Support")) and bool(gd.get("FreeType Support"))
    checks.append({"name": "gd JPEG and FreeType", "expected": "supported",
                   "actual": "supported" if gd_ok else "missing", "passed": gd_ok})
    return {"checked": True, "version": data.get("version"), "checks": checks,
            "passed": all(c["passed"] for c in checks)}


def _db_size(client: MysqlClient) -> dict[str, Any]:
    row = client.rows(
        "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0), COUNT(*) FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE()"
    )[0]
    return {"bytes": int(row[0] or 0), "tables": int(row[1] or 0)}


def _os_release(path: str = "/etc/os-release") -> dict[str, Any]:
    """The host's operating system as /etc/os-release names it (for the project docs' stack)."""
    found: dict[str, Any] = {"name": None, "version_id": None}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key in ("PRETTY_NAME", "VERSION_ID"):
                    found["name" if key == "PRETTY_NAME" else "version_id"] = value.strip().strip('"')
    except OSError:
        pass
    return found


def _disk(docroot: str) -> dict[str, Any]:
    st = os.statvfs(docroot)
    total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    inodes_used = st.f_files - st.f_ffree
    return {
        "bytes_total": total, "bytes_used": used, "bytes_free": free,
        "used_percent": round(100.0 * used / total, 1) if total else None,
        "inodes_total": st.f_files, "inodes_used": inodes_used,
        "inodes_used_percent": round(100.0 * inodes_used / st.f_files, 1) if st.f_files else None,
    }


CERT_WARN_DAYS = 14


def _certificates(served: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The served certificates (read by the role with community.crypto.get_certificate) with their days left."""
    out = []
    for item in served:
        entry: dict[str, Any] = {"domain": str(item.get("domain") or ""), "served": False, "not_after": None,
                                 "days_left": None}
        raw = item.get("not_after")
        try:
            not_after = datetime.strptime(str(raw), "%Y%m%d%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            not_after = None
        if item.get("served") and not_after is not None:
            entry.update(served=True, not_after=not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         days_left=round((not_after - now).total_seconds() / 86400, 1))
        else:
            entry["error"] = str(item.get("error") or ("unreadable expiry %r" % raw if item.get("served")
                                                       else "not served"))
        out.append(entry)
    return out


def _certificate_findings(certificates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    findings = []
    for cert in certificates:
        days = cert["days_left"]
        if days is None:
            continue
        if days < 0:
            findings.append(_finding("certificate-expired", "critical", "the served certificate has expired",
                                     "%s: expired on %s" % (cert["domain"], cert["not_after"]), []))
        elif days < CERT_WARN_DAYS:
            findings.append(_finding("certificate-expires-soon", "high", "the served certificate expires soon",
                                     "%s: expires on %s, in %s days" % (cert["domain"], cert["not_after"], days),
                                     []))
    return findings


def _home_page(url: str, host: str | None, timeout: float) -> dict[str, Any]:
    page = fetch(url, host, timeout, follow_redirects=True)
    if page["status"] is None:
        return {"url": url, "status": None, "error": page["error"], "response_ms": None}
    return {"url": url, "status": page["status"], "response_ms": page["response_ms"], "bytes": page["bytes"]}


def _agents(docroot: str, client: MysqlClient | None, cron_dirs: list[str], constants: dict[str, str]
            ) -> dict[str, Any]:
    cron_jobs = []
    for folder in cron_dirs:
        for path in glob.glob(os.path.join(folder, "*")):
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        if "cron_events.php" in line and not line.lstrip().startswith("#"):
                            cron_jobs.append({"file": path, "line": line.strip()})
            except OSError:
                continue
    result: dict[str, Any] = {
        "cron_jobs": cron_jobs,
        "crontab_support_constant": constants.get("BX_CRONTAB_SUPPORT", "").lower() == "true",
        "bx_crontab_defined": "BX_CRONTAB" in constants,
    }
    if client is not None:
        result["agents_use_crontab"] = option_value(client, "main", "agents_use_crontab", "N") == "Y"
        row = client.rows("SELECT COUNT(*), SUM(ACTIVE='Y'), MAX(LAST_EXEC) FROM b_agent")[0]
        result.update(count=int(row[0] or 0), active=int(row[1] or 0), last_exec=row[2])
    result["mode"] = "cron" if (result.get("agents_use_crontab") or result["crontab_support_constant"]) else "hits"
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            domains=dict(type="list", elements="str", default=[]),
            site_user=dict(type="str", default="bitrix"),
            home_url=dict(type="str", default="http://127.0.0.1/"),
            page_timeout=dict(type="float", default=10),
            served_certificates=dict(type="list", elements="dict", default=[]),
            nginx_conf_dir=dict(type="path", default="/etc/nginx"),
            php_conf_dir=dict(type="path", default="/etc/php"),
            cron_dirs=dict(type="list", elements="path", default=["/etc/cron.d", "/var/spool/cron/crontabs"]),
            db=DB_OPTION,
        ),
        supports_check_mode=True,
    )
    p = module.params
    docroot = p["docroot"].rstrip("/")
    started = time.monotonic()
    try:
        core = read_core_version(docroot)
    except NotABitrixSite as exc:
        module.fail_json(msg=str(exc))

    client: MysqlClient | None = None
    db_info: dict[str, Any] = {}
    try:
        creds = db_credentials(docroot, p["db"])
        client = MysqlClient(creds)
        db_info = dict(creds.masked(), reachable=True)
    except (RuntimeError, ValueError) as exc:
        db_info = {"reachable": False, "error": str(exc)}

    try:
        upload_dir = "upload"
        installed: set[str] | None = None
        if client is not None:
            try:
                upload_dir = option_value(client, "main", "upload_dir", "upload")
                installed = {row[0] for row in client.stream("SELECT ID FROM b_module") if row[0]}
                db_info.update(_db_size(client))
                db_info["server_version"] = client.scalar("SELECT VERSION()")
            except RuntimeError as exc:
                db_info.update(reachable=False, error=str(exc))
                client = None

        modules = find_modules(docroot)
        for module_id, info in modules.items():
            info["installed"] = (module_id in installed) if installed is not None else None

        upload_rel, upload_problem = upload_root(docroot, upload_dir)
        walk = TreeWalk(docroot, upload_rel)
        walk.run()

        uploads: dict[str, Any] = {"dir": upload_rel if upload_rel is not None else describe(upload_dir or ""),
                                   "files": walk.upload["files"], "bytes": walk.upload["bytes"]}
        if upload_problem is not None:
            uploads["error"] = upload_problem
        elif client is not None:
            uploads.update(_orphan_estimate(docroot, upload_rel or "upload", client))

        constants = read_dbconn_constants(docroot)
        installed_php = _php_versions(p["php_conf_dir"])
        serving = _serving_php(p["nginx_conf_dir"], p["php_conf_dir"])
        web_stack = detect_web_stack(docroot)
        sapi = "fpm"
        if serving["version"] is None and web_stack["php"].get("sapi") == "apache2handler":
            sapi = "apache2"  # nginx -> Apache mod_php (BitrixVM): Apache's PHP module serves the site
            serving = {"version": web_stack["php"]["version"], "pool": None, "socket": None,
                       "user": (web_stack["apache"] or {}).get("run_user"), "sapi": "apache2handler",
                       "module": web_stack["php"].get("module")}
        php = {"installed": installed_php, "serving": serving,
               "settings": _php_settings(serving["version"], p["php_conf_dir"], serving["pool"], sapi)}
        home = _home_page(p["home_url"], p["domains"][0] if p["domains"] else None, p["page_timeout"])
        agents = _agents(docroot, client, p["cron_dirs"], constants)
        integrations = collect_integrations(docroot, client.rows if client is not None else None, modules,
                                            p["cron_dirs"], p["site_user"])
        components = collect_components(docroot)
        findings = _security(docroot, core, modules, walk, serving, constants, home, p)
        certificates = _certificates(p["served_certificates"], datetime.now(timezone.utc))
        findings.extend(_certificate_findings(certificates))
        if upload_problem is not None:
            findings.append(_finding(
                "upload-dir-unsafe", "high", "the upload folder leads outside the docroot",
                upload_problem + "; nothing was walked through it: fix main.upload_dir or the folder",
                [describe(upload_dir or "")]))
    finally:
        if client is not None:
            client.close()

    report = {
        "schema": SCHEMA,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "docroot": docroot,
        "os": _os_release(),
        "core": core,
        "modules": modules,
        "php": php,
        "web_stack": {"kind": web_stack["kind"], "php_version": web_stack["php"].get("version"),
                      "php_sapi": web_stack["php"].get("sapi"),
                      "apache_user": (web_stack["apache"] or {}).get("run_user")},
        "db": db_info,
        "disk": _disk(docroot),
        "tree": walk.total,
        "disposable": walk.disposable,
        "uploads": uploads,
        "certificates": certificates,
        "home_page": home,
        "agents": agents,
        "integrations": integrations,
        "components": components,
        "security": {"findings": findings,
                     "counts": {s: sum(1 for f in findings if f["severity"] == s)
                                for s in ("critical", "high", "medium", "low")}},
        "duration_s": 0.0,
    }
    report["duration_s"] = round(time.monotonic() - started, 2)
    module.exit_json(changed=False, report=report)


def _is_file(anchor: Anchor, rel: str) -> bool:
    try:
        return stat.S_ISREG(anchor.lstat(rel).st_mode)
    except (OSError, UnsafePath):
        return False


# Modules whose old versions are findings: (module, version below which, id, severity, title, detail % version).
OLD_MODULE_FINDINGS: list[tuple[str, tuple[int, ...], str, str, str, str]] = [
    ("vote", VOTE_FIXED, "CVE-2022-27228", "critical", "vote module allows unauthenticated remote code execution",
     "vote %s is below 21.0.100 (CVSS 9.8, exploited in mass defacements); update it"),
    ("fileman", FILEMAN_WARN_BELOW, "fileman-html-editor-action", "medium",
     "old fileman: html_editor_action.php was abused",
     "fileman %s is old; /bitrix/tools/html_editor_action.php was used for web-shell uploads on old builds "
     "(no CVE, fixed version unknown): a warning, not a verdict"),
]


def _security(docroot: str, core: dict[str, Any], modules: dict[str, dict[str, Any]], walk: TreeWalk,
              serving: dict[str, Any], constants: dict[str, str], home: dict[str, Any],
              params: dict[str, Any]) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    for name, below, fid, severity, title, detail in OLD_MODULE_FINDINGS:
        module = modules.get(name)
        if not module or not module.get("version"):
            continue
        try:
            old = version_tuple(str(module["version"])) < below
        except ValueError:
            continue
        if old:
            findings.append(_finding(fid, severity, title, detail % module["version"], [str(module["path"])]))
    anchor = Anchor(docroot)
    folders = ("", "bitrix/") + ((walk.upload_dir + "/",) if walk.upload_dir is not None else ())
    leftovers = [rel for folder in folders for name in LEFTOVER_NAMES
                 for rel in [folder + name] if _is_file(anchor, rel)]
    if leftovers:
        findings.append(_finding("leftover-installer-files", "high", "installer or restore files left behind",
                                 "remove them: they can re-install or restore the site from the web", leftovers))
    flagged = [rel for rel in walk.world_writable if rel.endswith(WORLD_WRITABLE_FLAGGED)]
    if flagged:
        findings.append(_finding("world-writable-code", "high", "world-writable scripts or pages",
                                 "any local user can change code the site runs", flagged))
    readable = []
    for rel in SECRET_CONFIGS:
        try:
            if anchor.lstat(rel).st_mode & stat.S_IROTH and _is_file(anchor, rel):
                readable.append(rel)
        except (OSError, UnsafePath):
            continue
    if readable:
        findings.append(_finding("config-readable-by-others", "high", "configuration with secrets readable by others",
                                 "DB password or licence key readable by every local user", readable))
    exposed_git = anchor.is_dir(".git")
    anchor.close()
    if exposed_git:
        findings.append(_finding("exposed-git", "high", "a .git folder in the docroot",
                                 "the repository (history, maybe secrets) may be downloadable", [".git"]))
    core_version = version_tuple(str(core["version"]))
    php_version = serving.get("version")
    if php_version:
        php_tuple = tuple(int(x) for x in php_version.split("."))
        for min_core, min_php in PHP_MIN_BY_CORE:
            if core_version >= min_core:
                if php_tuple < min_php:
                    findings.append(_finding(
                        "php-below-core-minimum", "critical", "PHP below what the core demands",
                        "core %s needs PHP %d.%d or later; the site runs on %s"
                        % (core["version"], min_php[0], min_php[1], php_version)))
                break
        eol = PHP_EOL.get(php_version)
        if eol and eol < datetime.now(timezone.utc).strftime("%Y-%m-%d"):
            findings.append(_finding("php-end-of-life", "critical", "PHP past its end of life",
                                     "PHP %s gets no security fixes since %s" % (php_version, eol)))
        user = serving.get("user")
        if user:
            try:
                import pwd

                if pwd.getpwnam(user).pw_uid < 10:
                    findings.append(_finding("php-privileged-user", "high", "PHP runs as a privileged user",
                                             "the FPM pool runs as %s" % user))
            except KeyError:
                pass
    else:
        findings.append(_finding("php-serving-unknown", "medium", "no PHP-FPM pool found serving the site",
                                 "nginx does not hand PHP to any pool under /etc/php"))
    if "BX_CRONTAB" in constants:
        findings.append(_finding("bx-crontab-global", "medium", "BX_CRONTAB defined globally",
                                 "the site checker fails when BX_CRONTAB is defined in dbconn.php"))
    if home.get("status") != 200:
        findings.append(_finding("home-page-down", "critical", "the home page does not answer 200",
                                 "status %s %s" % (home.get("status"), home.get("error", ""))))
    return findings


if __name__ == "__main__":
    main()
