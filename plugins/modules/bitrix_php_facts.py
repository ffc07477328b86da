#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_php_facts
short_description: Find which PHP serves a Bitrix site, and what a PHP upgrade must carry over
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
description:
  - Follows nginx's PHP upstream (C(bx_php) in C(/etc/nginx/conf.d/bx_php_upstream.conf)) to its FastCGI
    socket, and that socket to the PHP-FPM pool (C(/etc/php/<X.Y>/fpm/pool.d/*.conf)) listening on it, giving the
    site's current PHP version, pool file, pool name and FPM service.
  - Lists the site's own php.ini overrides of that version (files in
    C(/etc/php/<X.Y>/{fpm,cli}/conf.d/), extension lines left out), the pool's C(php_value)/C(php_admin_value)
    settings, the cron lines running the site's C(cron_events.php) and the PHP binary they call, where the
    C(php) alternative points, every installed C(/usr/bin/phpX.Y), the pools of every FPM version and the
    installed and candidate versions of O(packages) from the package source (C(apt-cache policy)).
  - Cron lines are matched on O(docroot).
  - Read-only; safe in check mode.
options:
  upstream_conf:
    description: The nginx file defining the site's PHP upstream.
    type: path
    default: /etc/nginx/conf.d/bx_php_upstream.conf
  upstream_name:
    description: The upstream's name.
    type: str
    default: bx_php
  packages:
    description: Packages whose installed and candidate versions to report.
    type: list
    elements: str
    default: []
  skip_ini_files:
    description: conf.d file names that are bxops' own (not carried over).
    type: list
    elements: str
    default: []
  cron_paths:
    description: Cron files and folders to search for the site's cron_events.php.
    type: list
    elements: path
    default: [/etc/cron.d, /etc/crontab, /var/spool/cron/crontabs]
"""

EXAMPLES = r"""
- name: Find the PHP serving the site
  bxops.bitrix.bitrix_php_facts:
    docroot: /home/bitrix/www
    packages: [php8.2-fpm, php8.2-cli]
  register: __php_upgrade_facts
"""

RETURN = r"""
upstream:
  description: The upstream file, its server line and the socket it names.
  type: dict
  returned: success
  sample: {"file": "/etc/nginx/conf.d/bx_php_upstream.conf", "server": "unix:/run/php/php7.4-fpm-bitrix.sock",
           "socket": "/run/php/php7.4-fpm-bitrix.sock"}
serving:
  description: The pool serving the site (empty when none listens on the upstream's socket).
  type: dict
  returned: success
  sample: {"version": "7.4", "pool_file": "/etc/php/7.4/fpm/pool.d/bitrix.conf", "pool_name": "bitrix",
           "socket": "/run/php/php7.4-fpm-bitrix.sock", "fpm_service": "php7.4-fpm",
           "error_log": "/var/log/php/bitrix-fpm-error.log"}
pools:
  description: Version to its pools (file, name, listen).
  type: dict
  returned: success
installed_versions:
  description: PHP versions with a CLI in /usr/bin.
  type: list
  elements: str
  returned: success
alternative:
  description: Where /usr/bin/php resolves to, and that binary's X.Y.
  type: dict
  returned: success
ini_overrides:
  description: Version to its own conf.d settings (sapi, file, line, key, value); the serving pool's
    php_value/php_admin_value settings are in serving.php.
  type: dict
  returned: success
cron:
  description: Cron lines running the site's cron_events.php (file, line, php binary named, text).
  type: list
  elements: dict
  returned: success
packages:
  description: Package to installed and candidate version (null when none).
  type: dict
  returned: success
charset:
  description: The site's charset from dbconn.php (BX_UTF), for default_charset.
  type: str
  returned: success
web_stack:
  description: What serves the docroot, read from nginx's and Apache's configuration (never from the site's code)
    by module_utils/bitrix_webstack; C(kind) is C(nginx+apache_mod_php), C(nginx+php_fpm), C(apache_mod_php),
    C(nginx) or C(unknown). On an Apache/mod_php host C(serving) describes Apache's PHP module (C(sapi)
    C(apache2handler), C(module), C(service) C(apache2), C(error_log) the vhost's error log, C(pool_file) null).
  type: dict
  returned: success
"""

import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import DOCROOT_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import SiteConfigError, read_dbconn_constants
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_webstack import detect as detect_web_stack

_UPSTREAM_RE = re.compile(r"upstream\s+(\S+)\s*\{([^}]*)\}", re.S)
_SERVER_RE = re.compile(r"^\s*server\s+([^;\s]+)", re.M)
_POOL_NAME_RE = re.compile(r"^\s*\[([^\]]+)\]\s*$", re.M)
_POOL_KV_RE = re.compile(r"^\s*([A-Za-z0-9_.\[\]]+)\s*=\s*(.*?)\s*$")
_PHP_VALUE_RE = re.compile(r"^php(?:_admin)?_(?:value|flag)\[([^\]]+)\]$")
_INI_RE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*=\s*(.*?)\s*$")
_PHP_BIN_RE = re.compile(
    r"(?:^|[\s;&|({])((?:/usr(?:/local)?/bin/)?php(?:\d+\.\d+)?)\s+(?:-\S+\s+)*\S*cron_events\.php"
)
_VERSION_DIR_RE = re.compile(r"^\d+\.\d+$")


def read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def parse_pool(path: str) -> list[dict[str, object]]:
    """Pools in one FPM pool file: name, listen, error_log, php settings (key, value, line)."""
    pools: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    for number, raw in enumerate(read(path).splitlines(), 1):
        text = raw.split(";", 1)[0].strip()
        name = _POOL_NAME_RE.match(text)
        if name:
            current = {"file": path, "name": name.group(1), "listen": None, "error_log": None, "php": []}
            pools.append(current)
            continue
        match = _POOL_KV_RE.match(text)
        if not match or current is None:
            continue
        key, value = match.group(1), match.group(2).strip("\"'")
        if key == "listen":
            current["listen"] = value
        php = _PHP_VALUE_RE.match(key)
        if php:
            if php.group(1) == "error_log":
                current["error_log"] = value
            php_settings = current["php"]
            assert isinstance(php_settings, list)
            php_settings.append({"key": php.group(1), "value": value, "line": number})
    return pools


def all_pools(php_etc: str) -> dict[str, list[dict[str, object]]]:
    result: dict[str, list[dict[str, object]]] = {}
    for version_dir in sorted(glob.glob(os.path.join(php_etc, "*"))):
        version = os.path.basename(version_dir)
        if not _VERSION_DIR_RE.match(version):
            continue
        pools: list[dict[str, object]] = []
        for path in sorted(glob.glob(os.path.join(version_dir, "fpm", "pool.d", "*.conf"))):
            pools.extend(parse_pool(path))
        result[version] = pools
    return result


def _apache_error_log(vhost_file: str | None) -> str:
    """The vhost's ErrorLog (Debian's ${APACHE_LOG_DIR} is /var/log/apache2), else Apache's own."""
    if vhost_file and os.path.isfile(vhost_file):
        match = re.search(r"^\s*ErrorLog\s+(\S+)", read(vhost_file), re.M | re.I)
        if match and match.group(1).startswith(("/", "${APACHE_LOG_DIR}")):
            return match.group(1).replace("${APACHE_LOG_DIR}", "/var/log/apache2")
    return "/var/log/apache2/error.log"


def ini_overrides(php_etc: str, version: str, skip: list[str],
                  sapis: tuple[str, ...] = ("fpm", "cli")) -> list[dict[str, object]]:
    """Settings from the site's own conf.d files (package files are symlinks into mods-available)."""
    found: list[dict[str, object]] = []
    for sapi in sapis:
        for path in sorted(glob.glob(os.path.join(php_etc, version, sapi, "conf.d", "*.ini"))):
            if os.path.basename(path) in skip:
                continue
            for number, raw in enumerate(read(path).splitlines(), 1):
                text = raw.strip()
                if not text or text.startswith((";", "#", "[")):
                    continue
                match = _INI_RE.match(text)
                if not match or match.group(1).lower() in ("extension", "zend_extension"):
                    continue
                value = match.group(2)
                if value[:1] in ('"', "'") and value.find(value[0], 1) > 0:
                    value = value[: value.find(value[0], 1) + 1]
                else:
                    value = value.split(";", 1)[0].strip()
                found.append({"sapi": sapi, "file": path, "line": number, "key": match.group(1),
                              "value": value})
    return found


def cron_lines(paths: list[str], docroot: str) -> list[dict[str, object]]:
    target = os.path.join(docroot, "bitrix/modules/main/tools/cron_events.php")
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(p for p in glob.glob(os.path.join(path, "*")) if os.path.isfile(p))
        elif os.path.isfile(path):
            files.append(path)
    found: list[dict[str, object]] = []
    for path in files:
        try:
            text = read(path)
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#") or target not in line:
                continue
            match = _PHP_BIN_RE.search(line)
            found.append({"file": path, "line": number, "php": match.group(1) if match else None,
                          "text": line})
    return found


def apt_policy(module: AnsibleModule, packages: list[str]) -> dict[str, dict[str, str | None]]:
    result: dict[str, dict[str, str | None]] = {p: {"installed": None, "candidate": None} for p in packages}
    if not packages:
        return result
    rc, out, err = module.run_command(["apt-cache", "policy", *packages], environ_update={"LC_ALL": "C"})
    if rc != 0:
        module.fail_json(msg=f"apt-cache policy failed: {err}")
    name = None
    for line in out.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            name = line[:-1]
            continue
        stripped = line.strip()
        if name in result and stripped.startswith(("Installed:", "Candidate:")):
            key, value = stripped.split(":", 1)
            value = value.strip()
            result[name][key.lower()] = None if value in ("(none)", "") else value
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            upstream_conf=dict(type="path", default="/etc/nginx/conf.d/bx_php_upstream.conf"),
            upstream_name=dict(type="str", default="bx_php"),
            packages=dict(type="list", elements="str", default=[]),
            skip_ini_files=dict(type="list", elements="str", default=[]),
            cron_paths=dict(type="list", elements="path",
                            default=["/etc/cron.d", "/etc/crontab", "/var/spool/cron/crontabs"]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    php_etc = "/etc/php"
    upstream: dict[str, str | None] = {"file": p["upstream_conf"], "server": None, "socket": None}
    if os.path.isfile(p["upstream_conf"]):
        for name, body in _UPSTREAM_RE.findall(read(p["upstream_conf"])):
            if name == p["upstream_name"]:
                server = _SERVER_RE.search(body)
                if server:
                    upstream["server"] = server.group(1)
                    upstream["socket"] = server.group(1)[5:] if server.group(1).startswith("unix:") else None
    pools = all_pools(php_etc)
    serving: dict[str, object] = {}
    for version, version_pools in pools.items():
        for pool in version_pools:
            listen = str(pool["listen"] or "")
            if listen and (listen == upstream["socket"] or listen == upstream["server"]):
                serving = {"version": version, "pool_file": pool["file"], "pool_name": pool["name"],
                           "socket": listen, "fpm_service": f"php{version}-fpm",
                           "error_log": pool["error_log"], "php": pool["php"]}
    web_stack = detect_web_stack(p["docroot"])
    if not serving and web_stack["php"].get("sapi") == "apache2handler" and web_stack["php"]["version"]:
        vhost = (web_stack["apache"] or {}).get("vhost") or {}
        serving = {"version": web_stack["php"]["version"], "sapi": "apache2handler",
                   "module": web_stack["php"]["module"], "service": web_stack["php"]["service"],
                   "pool_file": None, "pool_name": None, "socket": None, "fpm_service": None,
                   "error_log": _apache_error_log(vhost.get("file")), "php": []}
    overrides = {version: ini_overrides(php_etc, version, p["skip_ini_files"]) for version in pools}
    for version in list(overrides):
        if web_stack["php"].get("sapi") == "apache2handler":
            overrides[version] += ini_overrides(php_etc, version, p["skip_ini_files"], ("apache2",))
    versions = sorted(os.path.basename(b)[3:] for b in glob.glob("/usr/bin/php[0-9]*.[0-9]*")
                      if re.match(r"^php\d+\.\d+$", os.path.basename(b)))
    resolved = os.path.realpath("/usr/bin/php") if os.path.exists("/usr/bin/php") else None
    alt_version = None
    if resolved and re.match(r"^php\d+\.\d+$", os.path.basename(resolved)):
        alt_version = os.path.basename(resolved)[3:]
    try:
        constants = read_dbconn_constants(p["docroot"]) if os.path.isdir(p["docroot"]) else {}
    except SiteConfigError as exc:  # a symlinked or unreadable dbconn.php: said in one line
        module.fail_json(msg=f"cannot read the site's dbconn.php: {exc}")
    bx_utf = constants.get("BX_UTF", "").lower() in ("true", "1")
    module.exit_json(
        changed=False,
        upstream=upstream,
        serving=serving,
        pools={v: [{k: pool[k] for k in ("file", "name", "listen")} for pool in ps]
               for v, ps in pools.items()},
        installed_versions=versions,
        alternative={"path": resolved, "version": alt_version},
        ini_overrides=overrides,
        cron=cron_lines(p["cron_paths"], p["docroot"]),
        packages=apt_policy(module, p["packages"]),
        web_stack=web_stack,
        charset="UTF-8" if bx_utf or "BX_UTF" not in constants else "windows-1251",
    )


if __name__ == "__main__":
    main()
