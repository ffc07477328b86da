# -*- coding: utf-8 -*-
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the php_upgrade role: merge php.ini settings, summarise compatibility findings."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping

DOCUMENTATION = r"""
---
name: php_ini_merge
short_description: php.ini settings for a new PHP version from defaults, the site's overrides and requirements
description:
  - Start from O(defaults), let the site's own overrides of the old version (one SAPI) win, keep lower
    bounds from O(minimums) (the larger value wins), force O(required), never carry O(removed) settings.
options:
  _input:
    description: Overrides as bitrix_php_facts returns them (sapi, key, value, ...), in file order.
    type: list
    elements: dict
    required: true
  sapi:
    description: fpm or cli.
    type: str
    required: true
  defaults:
    type: dict
    description: Values used unless the site has its own.
  minimums:
    type: dict
    description: Lower bounds.
  required:
    type: dict
    description: Values that always win.
  removed:
    type: list
    elements: str
    description: Settings never carried over.
"""


def _number(value: Any) -> float:
    try:
        return float(str(value).strip().strip("\"'"))
    except ValueError:
        return 0.0


def php_ini_merge(overrides: Iterable[Mapping[str, Any]], sapi: str, defaults: Mapping[str, Any],
                  minimums: Mapping[str, Any], required: Mapping[str, Any],
                  removed: Iterable[str]) -> Dict[str, str]:
    gone = {name.lower() for name in removed}
    merged: Dict[str, str] = {str(k): str(v) for k, v in defaults.items()}
    for item in overrides:
        if item.get("sapi") == sapi and str(item["key"]).lower() not in gone:
            merged[str(item["key"])] = str(item["value"])
    for key, bound in minimums.items():
        if key not in merged or _number(merged[key]) < _number(bound):
            merged[str(key)] = str(bound)
    for key, value in required.items():
        merged[str(key)] = str(value)
    return merged


def php_compat_summary(findings: Iterable[Mapping[str, Any]]) -> List[str]:
    """'file:line what (why)' per finding."""
    return ["%s:%s %s (%s)" % (f.get("file"), f.get("line"), f.get("what"), f.get("why")) for f in findings]


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"php_ini_merge": php_ini_merge, "php_compat_summary": php_compat_summary}
