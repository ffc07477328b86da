# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the php_upgrade role: merge php.ini settings, summarise compatibility findings."""
from __future__ import annotations

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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"php_ini_merge": php_ini_merge, "php_compat_summary": php_compat_summary}
