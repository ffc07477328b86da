"""The roles a playbook names, read from its YAML before it runs (plays' `roles:`, `include_role` and
`import_role` tasks, `import_playbook`), so that a run's work type is known from its start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bxops.playbook_events import short_role

_ROLE_ACTIONS = (
    "include_role",
    "import_role",
    "ansible.builtin.include_role",
    "ansible.builtin.import_role",
)
_PLAYBOOK_ACTIONS = ("import_playbook", "ansible.builtin.import_playbook")
_TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")
_BLOCK_PARTS = ("block", "rescue", "always")


def _role_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = value.get("role") or value.get("name")
        return str(name) if name else None
    return None


def _tasks(tasks: Any, found: list[str]) -> None:
    if not isinstance(tasks, list):
        return
    for task in tasks:
        if not isinstance(task, dict):
            continue
        for part in _BLOCK_PARTS:
            _tasks(task.get(part), found)
        for action in _ROLE_ACTIONS:
            if action in task:
                name = _role_name(task[action])
                if name:
                    found.append(name)
                # common's each_site loop runs the role named in its vars on every site
                site_role = (task.get("vars") or {}).get("bxops_site_role")
                if isinstance(site_role, str) and "{{" not in site_role:
                    found.append(site_role)


def _playbook(path: Path, found: list[str], seen: set[Path]) -> None:
    path = path.resolve()
    if path in seen or not path.is_file():
        return
    seen.add(path)
    try:
        plays = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return
    if not isinstance(plays, list):
        return
    for play in plays:
        if not isinstance(play, dict):
            continue
        for action in _PLAYBOOK_ACTIONS:
            target = play.get(action)
            if isinstance(target, str) and "{{" not in target:
                _playbook(path.parent / target, found, seen)
        for role in play.get("roles") or []:
            name = _role_name(role)
            if name:
                found.append(name)
        for part in _TASK_LISTS:
            _tasks(play.get(part), found)


def playbook_roles(path: Path) -> list[str]:
    """Short role names (`bxops.bitrix.audit` → `audit`) in the order the playbook names them, once each;
    templated names are left out. A playbook that cannot be read names none."""
    found: list[str] = []
    _playbook(path, found, set())
    ordered: list[str] = []
    for name in found:
        short = short_role(name)
        if "{{" not in short and short not in ordered:
            ordered.append(short)
    return ordered
