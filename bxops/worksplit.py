"""A run's time split across work types by the time of the roles it ran (the contract's role → work type
map), and the one way a total (raw or billed seconds) is shared out over such a split.

A run of the monthly playbook spends most of its time in `update` (updates) and the rest in audit, backup,
cleanup and the like (maintenance): its raw time is shared out in proportion to the time of the mapped
roles, and its billed time (its own rounded figure, or its share of a rounding group) in proportion to
those raw parts. Shares are whole seconds by largest remainder, so the parts always add up to the total.
A run whose work type came from `--work-type` or the playbook map, or whose roles map to one work type,
has no split; so has a manual entry (it keeps its one type).
"""

from __future__ import annotations

from collections.abc import Mapping

from bxops.contract import Term


def share_out(total: int, weights: Mapping[str, float | int]) -> dict[str, int]:
    """`total` in whole units over the keys of `weights` in proportion to them (largest remainder; ties
    go to the larger weight, then the key's name). The parts sum to `total` exactly; a negative total
    (a credit) is shared out as its opposite."""
    positive = {key: float(weight) for key, weight in weights.items() if weight > 0}
    if not positive:
        return {}
    if total < 0:
        return {key: -value for key, value in share_out(-total, positive).items()}
    whole = sum(positive.values())
    exact = {key: total * weight / whole for key, weight in positive.items()}
    parts = {key: int(value) for key, value in exact.items()}
    left = total - sum(parts.values())
    order = sorted(positive, key=lambda key: (-(exact[key] - parts[key]), -positive[key], key))
    for key in order[:left]:
        parts[key] += 1
    return parts


def role_split(
    term: Term, playbook: str, flag: str | None, role_seconds: Mapping[str, float], raw_seconds: int
) -> dict[str, int] | None:
    """The run's raw seconds per work type, or None when it has one work type only (see the module)."""
    if flag is not None or playbook in term.playbooks:
        return None
    by_type: dict[str, float] = {}
    for role, seconds in role_seconds.items():
        work_type = term.work_type_for_role(role)
        if work_type is not None and seconds > 0:
            by_type[work_type] = by_type.get(work_type, 0.0) + float(seconds)
    if len(by_type) < 2:
        return None
    return share_out(max(0, raw_seconds), by_type)


def split_figures(
    work_type: str | None, split: Mapping[str, int] | None, raw_seconds: int, billed_seconds: int
) -> dict[str | None, tuple[int, int]]:
    """(raw, billed) seconds per work type of one entry: its split (billed shared out by the raw parts),
    or everything under its one work type."""
    if not split:
        return {work_type: (raw_seconds, billed_seconds)}
    raws = share_out(raw_seconds, split) if sum(split.values()) != raw_seconds else dict(split)
    billed = share_out(billed_seconds, split)
    return {key: (raws.get(key, 0), billed.get(key, 0)) for key in split}
