# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The staging gate shared by the roles that change production (bxops.bitrix.common's staging_gate and
promote entry points): promotion records a staging run leaves next to the inventory, and the verdict on
whether production may go to what it wants."""
from __future__ import annotations

import json
import re
from typing import Any


def promotion_records(paths: list[str]) -> list[dict[str, Any]]:
    """Promotion records, newest first: Markdown for people with the data in a ```json block (a .md file,
    so that an inventory folder holding it does not read it as inventory), or plain JSON. Unreadable
    files are left out (the gate then says no record matches)."""
    records = []
    for path in sorted(paths or []):
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            block = re.search(r"```json\n(.*?)\n```", text, re.S)
            data = json.loads(block.group(1) if block else text)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            records.append(data)
    return sorted(records, key=lambda r: -float(r.get("finished_epoch") or 0))


def _reached(record: dict[str, Any]) -> dict[str, Any]:
    # records written before the shared format kept the update's versions under "versions"
    return dict(record.get("reached") or record.get("versions") or {})


def _fmt(wanted: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(wanted.items()))


def staging_gate(record_paths: list[str], wanted: dict[str, Any] | None, max_age_days: float, now: float,
                 staging_command: str = "", max_age_variable: str = "the maximum age") -> dict[str, Any]:
    """Whether a passing, fresh staging record reached everything in `wanted`.

    wanted None: not known yet (e.g. the update system must upgrade itself first): any passing, fresh
    record will do for now. Returns {ok, reason, record, checked}; the reason says why not and what to run.
    """
    if wanted is not None and not wanted:
        return {"ok": True, "reason": "nothing to change: the gate has nothing to check", "record": None,
                "checked": 0}
    hint = " Run it on staging first%s." % (": " + staging_command if staging_command else "")
    records = promotion_records(record_paths)
    if not records:
        return {"ok": False, "checked": 0, "record": None,
                "reason": "no staging promotion record exists in this inventory, so {} never passed "
                          "staging.".format(_fmt(wanted) if wanted else "this change") + hint}
    reasons = []
    for record in records:
        where = "staging record of {} (run {}, {})".format(record.get("host"), record.get("run_id"),
                                                        record.get("finished_at"))
        age_days = (float(now) - float(record.get("finished_epoch") or 0)) / 86400.0
        if not record.get("smoke_passed"):
            reasons.append(f"{where}: its smoke test did not pass")
            continue
        if age_days > float(max_age_days):
            reasons.append(f"{where} is {age_days:.1f} days old, older than {max_age_variable}={max_age_days}")
            continue
        reached = _reached(record)
        differ = {k: (v, reached.get(k)) for k, v in (wanted or {}).items() if str(reached.get(k)) != str(v)}
        if differ:
            reasons.append("{} reached other versions: {}".format(where, ", ".join(
                "{} {} on staging vs {} planned here".format(k, got or "absent", want)
                for k, (want, got) in sorted(differ.items()))))
            continue
        return {"ok": True, "checked": len(records), "record": record,
                "reason": "staging run {} on {} reached {} at {} with a passing smoke test".format(
                    record.get("run_id"), record.get("host"), _fmt(wanted) if wanted else "its target",
                    record.get("finished_at"))}
    return {"ok": False, "checked": len(records), "record": None,
            "reason": "no passing staging record matches {}: {}.".format(
                _fmt(wanted or {}) or "(not known yet)", "; ".join(reasons)) + hint}


class FilterModule:
    """bxops.bitrix staging gate filters."""

    def filters(self) -> dict[str, Any]:
        return {"staging_gate": staging_gate, "promotion_records": promotion_records}
