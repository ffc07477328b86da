# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the update role: the update plan and the staging gate (run on the controller)."""
from __future__ import annotations

import json
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


def _load(path: str) -> dict[str, Any] | None:
    """A promotion record: Markdown for people with the data in a ```json block (a .md file, so that an
    inventory folder holding it does not try to read it as inventory), or plain JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        block = re.search(r"```json\n(.*?)\n```", text, re.S)
        data = json.loads(block.group(1) if block else text)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def update_gate(record_paths: list[str], plan: dict[str, str] | None, max_age_days: float, now: float,
                staging_command: str = "") -> dict[str, Any]:
    """Whether a passing, fresh staging record reached exactly the planned versions.

    plan None: the versions are not known yet (the update system must upgrade itself first): any
    passing, fresh record will do for now. Returns {ok, reason, record, checked}; the reason says why
    not and what to run.
    """
    if plan is not None and not plan:
        return {"ok": True, "reason": "nothing to update: the gate has nothing to check", "record": None,
                "checked": 0}
    hint = (" Run the update on staging first%s." % (": " + staging_command if staging_command else ""))
    records = [r for r in (_load(p) for p in sorted(record_paths or [])) if r]
    if not records:
        return {"ok": False, "checked": 0, "record": None,
                "reason": "no staging promotion record exists in this inventory, so %s never tried on "
                          "staging." % ("these versions were: " + _fmt(plan) if plan else "updates were")
                          + hint}
    reasons = []
    best = None
    for record in sorted(records, key=lambda r: -float(r.get("finished_epoch", 0))):
        where = "staging record of {} (run {}, {})".format(record.get("host"), record.get("run_id"),
                                                        record.get("finished_at"))
        age_days = (float(now) - float(record.get("finished_epoch", 0))) / 86400.0
        if not record.get("smoke_passed"):
            reasons.append(f"{where}: its smoke test did not pass")
            continue
        if age_days > float(max_age_days):
            reasons.append(f"{where} is {age_days:.1f} days old, "
                           f"older than update_promotion_max_age_days={max_age_days}")
            continue
        reached = record.get("versions") or {}
        differ = {m: (v, reached.get(m)) for m, v in (plan or {}).items() if reached.get(m) != v}
        if differ:
            reasons.append("{} reached other versions: {}".format(where, ", ".join(
                "{} {} on staging vs {} planned here".format(m, got or "absent", want)
                for m, (want, got) in sorted(differ.items()))))
            continue
        best = record
        break
    if best is None:
        return {"ok": False, "checked": len(records), "record": None,
                "reason": "no passing staging record matches the planned versions ({}): {}.".format(
                    _fmt(plan or {}) or "not known yet", "; ".join(reasons)) + hint}
    return {"ok": True, "checked": len(records), "record": best,
            "reason": "staging run {} on {} reached these versions at {} with a passing smoke test".format(
                best.get("run_id"), best.get("host"), best.get("finished_at"))}


def _fmt(plan: dict[str, str]) -> str:
    return ", ".join(f"{m} {v}" for m, v in sorted(plan.items()))


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


class FilterModule:
    """bxops.bitrix update filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "update_plan": update_plan,
            "update_gate": update_gate,
            "update_version_lower": version_lower,
            "update_not_versions": not_versions,
            "update_short_of_newest": short_of_newest,
        }
