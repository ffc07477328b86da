# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the update role: the update plan and version checks (run on the controller). The staging
gate is shared: plugins/filter/staging_gate.py."""
from __future__ import annotations

import re
from typing import Any

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def _vt(version: str) -> tuple[int, int, int]:
    match = _VERSION_RE.match(str(version).strip())
    if not match:
        raise ValueError(f"not a Bitrix version: {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def update_plan(available: dict[str, Any], modules: list[str] | None = None,
                target_versions: dict[str, str] | None = None) -> dict[str, str]:
    """Module -> version to reach.

    available: module -> {from, to} as listed by the console. modules: restrict to these (empty: all).
    target_versions: pin a module to a version (never above what the update server offers).
    """
    modules = list(modules or [])
    pins = dict(target_versions or {})
    plan: dict[str, str] = {}
    for name, entry in sorted((available or {}).items()):
        if modules and name not in modules:
            continue
        latest = str(entry.get("to"))
        installed = entry.get("from")
        target = str(pins.get(name, latest))
        if _vt(target) > _vt(latest):
            target = latest
        if installed and _vt(target) <= _vt(str(installed)):
            continue
        plan[name] = target
    return plan


def version_lower(candidates: dict[str, str], installed: dict[str, Any]) -> list[str]:
    """Modules whose candidate version is lower than the installed one (for preflight messages)."""
    lower = []
    for name, version in sorted((candidates or {}).items()):
        current = (installed or {}).get(name)
        current_version = current.get("version") if isinstance(current, dict) else current
        if (current_version and _VERSION_RE.match(str(version))
                and _vt(str(version)) < _vt(str(current_version))):
            lower.append(f"{name} {version} < installed {current_version}")
    return lower


def short_of_newest(plan: dict[str, str], available: dict[str, Any]) -> list[str]:
    """Planned versions below the newest the server offers: CUpdateClient's steps (cores without the
    console) install every pending version of a module and cannot stop there."""
    short = []
    for name, version in sorted((plan or {}).items()):
        newest = ((available or {}).get(name) or {}).get("to")
        if newest and _vt(str(version)) < _vt(str(newest)):
            short.append(f"{name} {version} (the server offers {newest})")
    return short


def not_versions(candidates: dict[str, str]) -> list[str]:
    return sorted(n for n, v in (candidates or {}).items() if not _VERSION_RE.match(str(v)))


def smoke_checks(url_results: list[dict[str, Any]], checks: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The update's smoke checks as one list: each URL result of bitrix_smoke_test as a check {check: url,
    path, ok, detail: its reason}, then bitrix_updates_info's checks (logs, versions, agents)."""
    found = [dict(result, check="url", detail=result.get("reason", "")) for result in url_results or []]
    return found + list(checks or [])


def smoke_message(checks: list[dict[str, Any]]) -> str:
    """'smoke test failed: <check> <path>: <detail>; ...' for the failed checks (empty when all passed)."""
    failed = [c for c in checks or [] if not c.get("ok")]
    if not failed:
        return ""
    return "smoke test failed: " + "; ".join(
        "{} {}: {}".format(c.get("check", "?"), c.get("path", ""), c.get("detail", "")) for c in failed)


class FilterModule:
    """bxops.bitrix update filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "update_plan": update_plan,
            "update_version_lower": version_lower,
            "update_not_versions": not_versions,
            "update_short_of_newest": short_of_newest,
            "update_smoke_checks": smoke_checks,
            "update_smoke_message": smoke_message,
        }
