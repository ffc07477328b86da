# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the php_upgrade role: merge php.ini settings, summarise compatibility findings, list the sites
that Apache's host-wide PHP module serves."""
from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any


def _number(value: Any) -> float:
    try:
        return float(str(value).strip().strip("\"'"))
    except ValueError:
        return 0.0


def php_ini_merge(overrides: Iterable[Mapping[str, Any]], sapi: str, defaults: Mapping[str, Any],
                  minimums: Mapping[str, Any], required: Mapping[str, Any],
                  removed: Iterable[str]) -> dict[str, str]:
    gone = {name.lower() for name in removed}
    merged: dict[str, str] = {str(k): str(v) for k, v in defaults.items()}
    for item in overrides:
        if item.get("sapi") == sapi and str(item["key"]).lower() not in gone:
            merged[str(item["key"])] = str(item["value"])
    for key, bound in minimums.items():
        if key not in merged or _number(merged[key]) < _number(bound):
            merged[str(key)] = str(bound)
    for key, value in required.items():
        merged[str(key)] = str(value)
    return merged


def php_compat_summary(findings: Iterable[Mapping[str, Any]]) -> list[str]:
    """'file:line what (why)' per finding."""
    return [f"{f.get('file')}:{f.get('line')} {f.get('what')} ({f.get('why')})" for f in findings]


def _norm(path: Any) -> str:
    text = str(path or "").strip()
    return posixpath.normpath(text).rstrip("/") if text else ""


def _smoke_url(url: Any) -> dict[str, Any]:
    """A bitrix_sites smoke URL (a path, or the {path, status, marker} dict the sites filter makes of it)."""
    if isinstance(url, Mapping):
        return {"path": str(url.get("path")), "status": url.get("status", 200), "marker": url.get("marker") or ""}
    return {"path": str(url), "status": 200, "marker": ""}


def php_upgrade_serving(loop_results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Site name -> HTTP status of its first smoke page, from a smoke-test loop over __php_upgrade_site (None
    where the check gave no answer, e.g. the module failed before asking)."""
    serving: dict[str, Any] = {}
    for item in loop_results:
        name = str((item.get("__php_upgrade_site") or {}).get("name", "?"))
        pages = item.get("results") or [{}]
        serving[name] = pages[0].get("status") if isinstance(pages[0], Mapping) else None
    return serving


def php_upgrade_apache_sites(apache_sites: Iterable[Mapping[str, Any]], docroot: str, name: str,
                             domains: Iterable[str], smoke_urls: list[Any], smoke_host: str, site_user: str,
                             bitrix_sites: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every site Apache's PHP module serves (bitrix_webstack's apache.sites), the run's own site first.

    Each: name, docroot, domains, host (the Host header of its smoke test), smoke_urls ({path, status,
    marker}), site_user, given (the run's own site), checked, problem (why it is not checked). The run's own
    site keeps the run's smoke pages unless its bitrix_sites entry lists smoke_urls (a multi-site loop); another
    site takes its bitrix_sites entry (name, domains, smoke_urls, site_user) when one has its docroot, else its
    vhost's names and "/" answering 200."""
    own = _norm(docroot)
    by_docroot = {_norm(s.get("docroot")): s for s in (bitrix_sites or []) if isinstance(s, Mapping)}
    own_urls = by_docroot.get(own, {}).get("smoke_urls") or []
    result: list[dict[str, Any]] = [{
        "name": str(name), "docroot": own, "domains": list(domains), "host": str(smoke_host),
        "smoke_urls": [_smoke_url(u) for u in own_urls] or list(smoke_urls),
        "site_user": str(site_user), "given": True, "checked": True, "problem": None,
    }]
    for site in apache_sites:
        path = _norm(site.get("docroot"))
        if path == own:
            continue
        entry = by_docroot.get(path, {})
        names = [str(n) for n in (entry.get("domains") or site.get("server_name") or [])]
        problem = site.get("problem")
        result.append({
            "name": str(entry.get("name") or (names[0] if names else posixpath.basename(path) or "?")),
            "docroot": path or None,
            "domains": names,
            "host": names[0] if names else "localhost",
            "smoke_urls": [_smoke_url(u) for u in entry.get("smoke_urls") or []]
            or [{"path": "/", "status": 200, "marker": ""}],
            "site_user": str(entry.get("site_user") or site_user),
            "given": False,
            "checked": problem is None,
            "problem": problem,
        })
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"php_ini_merge": php_ini_merge, "php_compat_summary": php_compat_summary,
                "php_upgrade_apache_sites": php_upgrade_apache_sites, "php_upgrade_serving": php_upgrade_serving}
