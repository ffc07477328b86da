# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which web stack serves a Bitrix docroot, read from the host's configuration only.

nginx's configuration (nginx.conf and what it includes) gives the server block whose root is the docroot and
where its PHP goes: proxy_pass to a local Apache (BitrixVM: nginx in front, Apache with mod_php behind) or
fastcgi_pass to a PHP-FPM socket. Apache's own configuration (ports, enabled vhosts, mods-enabled) gives the
PHP module it loads, its MPM and the user it runs as; the FPM pools give the version behind a socket.
Apache's PHP module is host-wide, so every site its enabled vhosts serve is listed too (apache_sites): a
DocumentRoot outside the sites' root or reached through a symlink is reported, never followed.
Nothing under a docroot is read or run: the docroot is compared, as a string, with the configured roots, and
only its own path components are lstat'ed.
Stdlib only, Python 3.9.
"""
from __future__ import annotations

import glob
import os
import re
import stat
from typing import Any

_COMMENT_RE = re.compile(r"(?m)(^|[\s;{}])#[^\n]*")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0", "*")
_PHP_MODULE_RE = re.compile(r"^php(\d+(?:\.\d+)?)\.load$")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _in_root(root: str, path: str) -> str:
    """A configured absolute path, looked up under root (tests point root at a fixture tree)."""
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def _norm(path: str) -> str:
    return os.path.normpath(path.strip().strip("\"'")).rstrip("/") or "/"


# --- nginx -------------------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    text = _COMMENT_RE.sub(r"\1", text)
    return re.findall(r"\"[^\"]*\"|'[^']*'|[{};]|[^\s{};]+", text)


def _parse_block(tokens: list[str], pos: int) -> tuple[list[dict[str, Any]], int]:
    """Directives up to the closing brace: {name, args, block (list or None)}."""
    items: list[dict[str, Any]] = []
    words: list[str] = []
    while pos < len(tokens):
        tok = tokens[pos]
        pos += 1
        if tok == ";":
            if words:
                items.append({"name": words[0], "args": words[1:], "block": None})
            words = []
        elif tok == "{":
            block, pos = _parse_block(tokens, pos)
            items.append({"name": words[0] if words else "", "args": words[1:], "block": block})
            words = []
        elif tok == "}":
            return items, pos
        else:
            words.append(tok.strip("\"'"))
    return items, pos


def _nginx_load(path: str, root: str, prefix: str, depth: int = 0) -> list[dict[str, Any]]:
    """Parse one nginx file with its includes spliced in (relative includes are relative to the prefix)."""
    items, _ = _parse_block(_tokens(_read(_in_root(root, path))), 0)
    return _expand(items, root, prefix, depth)


def _expand(items: list[dict[str, Any]], root: str, prefix: str, depth: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item["name"] == "include" and item["block"] is None and item["args"] and depth < 10:
            pattern = item["args"][0]
            if not pattern.startswith("/"):
                pattern = os.path.join(prefix, pattern)
            for found in sorted(glob.glob(_in_root(root, pattern))):
                rel = "/" + os.path.relpath(found, root) if root not in ("", "/") else found
                out.extend(_nginx_load(rel, root, prefix, depth + 1))
        elif item["block"] is not None:
            out.append(dict(item, block=_expand(item["block"], root, prefix, depth)))
        else:
            out.append(item)
    return out


def _walk(items: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in items:
        if item["name"] == name:
            found.append(item)
        if item["block"] is not None:
            found.extend(_walk(item["block"], name))
    return found


def _directive(block: list[dict[str, Any]], name: str) -> list[str] | None:
    for item in block:
        if item["name"] == name and item["block"] is None:
            return list(item["args"])
    return None


def _pass_targets(block: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(kind, target, location) for every proxy_pass / fastcgi_pass in a server block, PHP locations first."""
    found: list[tuple[int, str, str, str]] = []

    def visit(items: list[dict[str, Any]], location: str) -> None:
        for item in items:
            if item["name"] in ("proxy_pass", "fastcgi_pass") and item["block"] is None and item["args"]:
                rank = 0 if "php" in location else (1 if location in ("/", "@apache") else 2)
                kind = "proxy" if item["name"] == "proxy_pass" else "fastcgi"
                found.append((rank, kind, item["args"][0], location))
            elif item["name"] == "location" and item["block"] is not None:
                visit(item["block"], " ".join(item["args"]))

    visit(block, "")
    return [(kind, target, loc) for _, kind, target, loc in sorted(found, key=lambda f: f[0])]


def _upstreams(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for up in _walk(items, "upstream"):
        if up["args"] and up["block"] is not None:
            result[up["args"][0]] = [s["args"][0] for s in up["block"] if s["name"] == "server" and s["args"]]
    return result


def nginx_site(docroot: str, root: str = "/", conf: str = "/etc/nginx/nginx.conf") -> dict[str, Any] | None:
    """The nginx server block whose root is the docroot, and where it sends PHP (upstreams resolved)."""
    if not os.path.isfile(_in_root(root, conf)):
        return None
    items = _nginx_load(conf, root, os.path.dirname(conf))
    upstreams = _upstreams(items)
    want = _norm(docroot)
    for server in _walk(items, "server"):
        if server["block"] is None:
            continue
        server_root = _directive(server["block"], "root")
        if not server_root or _norm(server_root[0]) != want:
            continue
        names = _directive(server["block"], "server_name") or []
        for kind, target, location in _pass_targets(server["block"]):
            address = re.sub(r"^[a-z]+://", "", target).split("/", 1)[0]
            resolved = [address] if address.startswith("unix:") else upstreams.get(address, [address])
            return {"server_name": [n for n in names if n != "_"], "pass": kind, "target": target,
                    "location": location, "servers": resolved}
        return {"server_name": [n for n in names if n != "_"], "pass": None, "target": None,
                "location": None, "servers": []}
    return None


# --- Apache ------------------------------------------------------------------------------------------------


def _apache_lines(path: str) -> list[str]:
    lines = []
    for raw in _read(path).splitlines():
        text = raw.strip()
        if text and not text.startswith("#"):
            lines.append(text)
    return lines


def _envvars(root: str, apache_dir: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in _apache_lines(_in_root(root, os.path.join(apache_dir, "envvars"))):
        match = re.match(r"^(?:export\s+)?(APACHE_RUN_USER|APACHE_RUN_GROUP)=\"?([^\"\s]+)\"?", line)
        if match:
            env[match.group(1)] = match.group(2)
    return env


def _vhosts(root: str, base: str) -> list[dict[str, Any]]:
    """Every <VirtualHost> of the enabled sites (sites-enabled/*.conf), in Apache's reading order."""
    found: list[dict[str, Any]] = []
    for path in sorted(glob.glob(os.path.join(base, "sites-enabled", "*.conf"))):
        current: dict[str, Any] | None = None
        for line in _apache_lines(path):
            opened = re.match(r"^<VirtualHost\s+([^>]+)>", line, re.I)
            if opened:
                current = {"file": "/" + os.path.relpath(path, root) if root not in ("", "/") else path,
                           "address": opened.group(1).split()[0], "server_name": [], "docroot": None}
                continue
            if current is None:
                continue
            if re.match(r"^</VirtualHost>", line, re.I):
                found.append(current)
                current = None
                continue
            key = re.match(r"^(ServerName|ServerAlias|DocumentRoot)\s+(.+)$", line, re.I)
            if key:
                if key.group(1).lower() == "documentroot":
                    current["docroot"] = _norm(key.group(2))
                elif key.group(1).lower() == "servername":  # ServerName first, whatever the order in the file
                    names = key.group(2).split()[:1]
                    current["server_name"] = names + [n for n in current["server_name"] if n not in names]
                else:
                    current["server_name"].extend(n for n in key.group(2).split() if n not in current["server_name"])
    return found


def _docroot_problem(docroot: str | None, root: str, sites_root: str) -> str | None:
    """Why a vhost's DocumentRoot is not a site to check: missing, outside sites_root, or reached through a
    symlink (only lstat on each component, nothing under the docroot is read and no symlink is followed)."""
    if not docroot:
        return "no DocumentRoot"
    base = _norm(sites_root)
    if not docroot.startswith(base.rstrip("/") + "/"):
        return f"DocumentRoot {docroot} is outside {base}: not checked"
    path = base
    for part in docroot[len(base):].strip("/").split("/"):
        path = path.rstrip("/") + "/" + part
        try:
            mode = os.lstat(_in_root(root, path)).st_mode
        except OSError:
            return f"DocumentRoot {docroot} does not exist"
        if stat.S_ISLNK(mode):
            return f"DocumentRoot {docroot} goes through the symlink {path}: not followed, not checked"
        if not stat.S_ISDIR(mode):
            return f"DocumentRoot {docroot}: {path} is not a directory"
    return None


def apache_sites(root: str = "/", apache_dir: str = "/etc/apache2",
                 sites_root: str = "/home/bitrix") -> list[dict[str, Any]]:
    """The sites Apache serves from its enabled vhosts, one per DocumentRoot (vhosts sharing it merged):
    docroot, server_name (ServerName, then ServerAlias, every vhost's), files, and problem: None for a
    site to check, else why it is reported and not checked (outside sites_root, a symlink, missing)."""
    base = _in_root(root, apache_dir)
    if not os.path.isdir(base):
        return []
    sites: dict[str, dict[str, Any]] = {}
    for vhost in _vhosts(root, base):
        key = vhost["docroot"] or ""
        site = sites.setdefault(key, {"docroot": vhost["docroot"], "server_name": [], "files": [],
                                      "problem": _docroot_problem(vhost["docroot"], root, sites_root)})
        site["server_name"].extend(n for n in vhost["server_name"] if n not in site["server_name"])
        if vhost["file"] not in site["files"]:
            site["files"].append(vhost["file"])
    return list(sites.values())


def apache_site(docroot: str, root: str = "/", apache_dir: str = "/etc/apache2",
                sites_root: str = "/home/bitrix") -> dict[str, Any] | None:
    """Apache's listeners, the enabled vhost serving the docroot, every site it serves (sites: its PHP module
    is host-wide), its PHP module, MPM and run user."""
    base = _in_root(root, apache_dir)
    if not os.path.isdir(base):
        return None
    listen: list[str] = []
    for path in [os.path.join(base, "ports.conf"), os.path.join(base, "apache2.conf")]:
        for line in _apache_lines(path):
            match = re.match(r"^Listen\s+(\S+)", line, re.I)
            if match:
                listen.append(match.group(1))
    want = _norm(docroot)
    vhost = next((v for v in _vhosts(root, base) if v["docroot"] == want), None)
    enabled = sorted(os.path.basename(p) for p in glob.glob(os.path.join(base, "mods-enabled", "*.load")))
    available = sorted(os.path.basename(p) for p in glob.glob(os.path.join(base, "mods-available", "*.load")))
    php_enabled = [m[:-5] for m in enabled if _PHP_MODULE_RE.match(m)]
    php_installed = [m[:-5] for m in available if _PHP_MODULE_RE.match(m)]
    mpm = [m[4:-5] for m in enabled if m.startswith("mpm_")]
    env = _envvars(root, apache_dir)
    return {
        "listen": listen,
        "vhost": vhost,
        "sites": apache_sites(root, apache_dir, sites_root),
        "mpm": mpm[0] if mpm else None,
        "php_module": php_enabled[0] if len(php_enabled) == 1 else None,
        "php_modules_enabled": php_enabled,
        "php_modules_installed": php_installed,
        "run_user": env.get("APACHE_RUN_USER"),
        "run_group": env.get("APACHE_RUN_GROUP"),
        "service": "apache2",
    }


def _listens_on(listen: list[str], address: str) -> bool:
    host, _, port = address.rpartition(":")
    for item in listen:
        l_host, _, l_port = item.rpartition(":")
        if (l_port or item) == port and (not l_host or l_host in _LOCAL_HOSTS or l_host == host):
            return True
    return False


# --- PHP-FPM -----------------------------------------------------------------------------------------------


def fpm_pool_for(socket: str, root: str = "/", php_etc: str = "/etc/php") -> dict[str, Any] | None:
    for path in sorted(glob.glob(os.path.join(_in_root(root, php_etc), "*", "fpm", "pool.d", "*.conf"))):
        name = None
        for raw in _read(path).splitlines():
            text = raw.split(";", 1)[0].strip()
            header = re.match(r"^\[([^\]]+)\]$", text)
            if header:
                name = header.group(1)
                continue
            match = re.match(r"^listen\s*=\s*(\S+)$", text)
            if match and match.group(1).strip("\"'") == socket:
                version = path.split(os.sep)[-4]
                return {"version": version, "pool": name, "pool_file": path if root in ("", "/")
                        else "/" + os.path.relpath(path, root), "service": f"php{version}-fpm"}
    return None


# --- the answer --------------------------------------------------------------------------------------------


def detect(docroot: str, root: str = "/", nginx_conf: str = "/etc/nginx/nginx.conf",
           apache_dir: str = "/etc/apache2", php_etc: str = "/etc/php") -> dict[str, Any]:
    """What serves the docroot.

    kind: nginx+apache_mod_php | nginx+php_fpm | apache_mod_php | nginx | unknown;
    php: {version, sapi (apache2handler | fpm), module or pool, service}; front, apache, fpm: the details.
    """
    result: dict[str, Any] = {"kind": "unknown", "front": None, "apache": None, "fpm": None,
                              "php": {"version": None, "sapi": None, "service": None}}
    front = nginx_site(docroot, root, nginx_conf)
    apache = apache_site(docroot, root, apache_dir)
    result["front"] = front
    if front and front["pass"] == "fastcgi":
        socket = front["servers"][0] if front["servers"] else ""
        socket = socket[5:] if socket.startswith("unix:") else socket
        pool = fpm_pool_for(socket, root, php_etc)
        result["kind"] = "nginx+php_fpm"
        result["fpm"] = dict(pool or {}, socket=socket)
        if pool:
            result["php"] = {"version": pool["version"], "sapi": "fpm", "pool_file": pool["pool_file"],
                             "service": pool["service"]}
        return result
    behind_apache = bool(
        front and front["pass"] == "proxy" and apache is not None
        and any(_listens_on(apache["listen"], s) for s in front["servers"]
                if s.rpartition(":")[0] in _LOCAL_HOSTS))
    if apache is not None and (behind_apache or (front is None and apache["vhost"] is not None)):
        result["kind"] = "nginx+apache_mod_php" if behind_apache else "apache_mod_php"
        result["apache"] = apache
        module = apache["php_module"]
        if module:
            match = _PHP_MODULE_RE.match(module + ".load")
            version = match.group(1) if match else None
            if version and "." not in version:  # php8.load / php7.load (EL, remi) names no minor version
                version = None
            result["php"] = {"version": version, "sapi": "apache2handler", "module": module,
                             "service": apache["service"]}
        return result
    if front is not None:
        result["kind"] = "nginx"
    return result
