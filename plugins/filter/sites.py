# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sites of a host (run on the controller): `bitrix_sites` normalized and validated, or the one site
described by the one-site variables (bitrix_docroot, bitrix_domains, bitrix_db_*) when it is not set.

    bitrix_sites | bxops.bitrix.sites(one_site)

Every entry comes out with all keys (name, docroot, domains, site_user, site_group, db{host,name,user,
password}, smoke_urls); missing keys take the one-site value. A smoke URL is a path ("/about/", status 200)
or a dict {path, status, marker} (the roles' smoke URL shape: status an HTTP status or a list of them,
marker a text the page must contain); both come out as {path, status, marker}. Bad input raises one error
naming every problem (unique names, absolute normalized docroots, no docroot inside another, domains unique
across sites, smoke URLs)."""
from __future__ import annotations

import posixpath
import re
from typing import Any

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_DB_KEYS = ("host", "name", "user", "password")
_KNOWN = {"name", "docroot", "domains", "site_user", "site_group", "db", "smoke_urls"}
_SMOKE_KEYS = ("path", "status", "marker")
_BAD_PATH_RE = re.compile(r"[\s\x00-\x1f\x7f]")


class SitesError(ValueError):
    """bitrix_sites is invalid (the message lists every problem)."""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _status_ok(status: Any) -> bool:
    codes = status if isinstance(status, list) else [status]
    return bool(codes) and all(isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in codes)


def smoke_urls(raw: Any, where: str, problems: list[str]) -> list[dict[str, Any]]:
    """A site's smoke URLs as the roles' {path, status, marker} dicts; every problem appended to problems."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        problems.append(f"{where}: smoke_urls must be a list of paths or {{path, status, marker}} dicts")
        return []
    out: list[dict[str, Any]] = []
    for index, url in enumerate(raw):
        at = f"{where}: smoke_urls[{index}]"
        spec: dict[str, Any] = {"path": url} if isinstance(url, str) else url
        if not isinstance(spec, dict):
            problems.append(f"{at} must be a path or a {{path, status, marker}} dict")
            continue
        unknown = sorted(str(k) for k in set(spec) - set(_SMOKE_KEYS))
        if unknown:
            problems.append(f"{at} has unknown keys: {', '.join(unknown)} (known: path, status, marker)")
        path, status, marker = spec.get("path"), spec.get("status", 200), spec.get("marker", "")
        if not isinstance(path, str) or not path.startswith("/") or _BAD_PATH_RE.search(path):
            problems.append(f"{at}: path {path!r} must start with / and hold no spaces or control characters")
        if not _status_ok(status):
            problems.append(f"{at}: status {status!r} must be an HTTP status (100-599) or a list of them")
        if marker is None:
            marker = ""
        if not isinstance(marker, str):
            problems.append(f"{at}: marker {marker!r} must be a text")
        out.append({"path": path, "status": status, "marker": marker})
    return out


def _one_site(one: dict[str, Any]) -> dict[str, Any]:
    user = str(one.get("site_user") or "bitrix")
    return {
        "name": str(one.get("name") or "default"),
        "docroot": one.get("docroot") or "/home/bitrix/www",
        "domains": list(one.get("domains") or []),
        "site_user": user,
        "site_group": str(one.get("site_group") or user),
        "db": {k: str((one.get("db") or {}).get(k) or "") for k in _DB_KEYS},
        "smoke_urls": list(one.get("smoke_urls") or []),  # the one-site run keeps the roles' own
    }


def site_name_ok(name: Any) -> bool:
    """Whether `name` is a site name by the rule bitrix_sites' names follow (one safe folder name: the audit files
    each site's reports under it)."""
    return isinstance(name, str) and _NAME_RE.match(name) is not None


def sites(bitrix_sites: Any, one_site: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The normalized list of sites; raises SitesError with every problem found."""
    base = _one_site(dict(one_site or {}))
    if bitrix_sites in (None, "", []):
        raw: list[Any] = [base]
    elif isinstance(bitrix_sites, list):
        raw = list(bitrix_sites)
    else:
        raise SitesError("bitrix_sites must be a list of sites, got " + type(bitrix_sites).__name__)
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        where = f"bitrix_sites[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} is not a dict")
            continue
        unknown = sorted(set(entry) - _KNOWN)
        if unknown:
            problems.append(f"{where} has unknown keys: {', '.join(unknown)}")
        name = str(entry.get("name") or "")
        if not _NAME_RE.match(name):
            problems.append(f"{where}: name {name!r} must be 1-63 letters, digits, '.', '_' or '-'")
        where = f"site {name or index}"
        docroot = entry.get("docroot")
        if not isinstance(docroot, str) or not docroot.startswith("/"):
            problems.append(f"{where}: docroot {docroot!r} must be an absolute path")
            docroot = ""
        else:
            normal = posixpath.normpath(docroot)
            if normal != docroot.rstrip("/") or normal == "/" or "//" in docroot:
                problems.append(f"{where}: docroot {docroot!r} must be a normalized path below /")
            docroot = normal
        domains = entry.get("domains", [])
        if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
            problems.append(f"{where}: domains must be a list of names")
            domains = []
        db = entry.get("db", {})
        if not isinstance(db, dict) or set(db) - set(_DB_KEYS):
            problems.append(f"{where}: db must be a dict of {', '.join(_DB_KEYS)}")
            db = {}
        smoke = smoke_urls(entry.get("smoke_urls"), where, problems)
        user = str(entry.get("site_user") or base["site_user"])
        out.append({
            "name": name,
            "docroot": docroot,
            "domains": [d.lower().rstrip(".") for d in domains],
            "site_user": user,
            "site_group": str(entry.get("site_group") or (user if entry.get("site_user") else base["site_group"])),
            "db": {k: str(db.get(k) or "") for k in _DB_KEYS},
            "smoke_urls": list(smoke),
        })
    names = [s["name"] for s in out]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"site name {dup!r} is used more than once")
    for a in out:
        for b in out:
            if a is not b and a["docroot"] and b["docroot"] and _inside(a["docroot"], b["docroot"]):
                if a["docroot"] == b["docroot"]:
                    if names.index(a["name"]) < names.index(b["name"]):
                        problems.append(f"sites {a['name']!r} and {b['name']!r} share the docroot {a['docroot']}")
                else:
                    problems.append(f"site {a['name']!r}: docroot {a['docroot']} lies inside the docroot "
                                    f"{b['docroot']} of site {b['name']!r}")
    owner: dict[str, str] = {}
    for site in out:
        for domain in site["domains"]:
            if domain in owner and owner[domain] != site["name"]:
                problems.append(f"domain {domain} belongs to both {owner[domain]!r} and {site['name']!r}")
            owner.setdefault(domain, site["name"])
    if problems:
        raise SitesError("bitrix_sites is invalid: " + "; ".join(problems))
    return out


class FilterModule:
    """bxops.bitrix sites filter."""

    def filters(self) -> dict[str, Any]:
        return {"sites": sites, "site_name_ok": site_name_ok}
