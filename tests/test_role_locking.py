"""Every entry point of a role that changes a site takes the site's maintenance lock (issue 13).

Read from the roles' task files, as Ansible would run them: include_tasks and include_role of the
collection's roles are followed, and every task that calls a module which changes the site must come
after common's `lock` in its task list (or in an enclosing one), with common's `unlock` in an `always:`
so a failed run releases it. Running the roles against a host is the molecule scenarios' job; this
catches an entry point that forgets the lock before any host is started.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
ROLES = PROJECT / "roles"

#: Entry points that change nothing on the site (each says why); they must call no site-changing module.
READ_ONLY = {
    ("audit", "main"): "reads the site and reports",
    ("backup", "verify"): "reads a backup and compares it with its manifest",
    ("backup", "schedule"): "installs the timer outside the docroot; each scheduled run takes the site lock itself",
    ("php_upgrade", "staging_gate"): "reads the staging gate's records",
    ("monitoring_agent", "main"): "installs exporters and a collector beside the site; reads the site, never writes it",
    ("monitoring_server", "main"): "runs on the agency's monitor host, never on a client's site",
}

#: The collection's modules that change a site, and the actions that do (None: every call).
SITE_CHANGING: dict[str, set[str] | None] = {
    "bitrix_backup": {"create", "restore"},  # a backup must not race a change; a restore is one
    "bitrix_permissions": None,
    "bitrix_cleanup": None,
    "bitrix_orphans": None,
    "bitrix_updates": {"begin", "apply", "cleanup"},
    "bitrix_site_stopped": None,
}


def entry_points() -> list[tuple[str, str]]:
    found = []
    for specs in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        role = specs.parent.parent.name
        if role == "common":  # internal task files, included by the others
            continue
        for entry in yaml.safe_load(specs.read_text())["argument_specs"]:
            found.append((role, entry))
    return found


def _include(task: dict[str, Any], key: str) -> Any:
    for name in (f"ansible.builtin.{key}", key):
        if name in task:
            return task[name]
    return None


def _common(task: dict[str, Any], which: str) -> bool:
    spec = _include(task, "include_role") or _include(task, "import_role")
    return isinstance(spec, dict) and spec.get("name") == "bxops.bitrix.common" and spec.get("tasks_from") == which


def _changes_site(task: dict[str, Any]) -> str | None:
    for module, actions in SITE_CHANGING.items():
        args = task.get(f"bxops.bitrix.{module}")
        if args is None:
            continue
        action = args.get("action", "create" if module == "bitrix_backup" else "")
        if actions is None or action in actions or "{{" in str(action):
            return f"{module}({action})" if action else module
    return None


@dataclass
class Call:
    where: str
    task: str
    module: str
    locked: bool


def _has_unlock(tasks: list[dict[str, Any]]) -> bool:
    return any(_common(t, "unlock") for t in tasks)


LOCK = "<common lock>"


def walk(roles: Path, role: str, rel: str, locked: bool = False, always: list[dict[str, Any]] | None = None,
         seen: tuple[str, ...] = ()) -> Iterator[Call]:
    """The site-changing module calls reached from a role's task file, each with whether the lock is held
    there; a Call of LOCK where the lock is taken."""
    key = f"{role}/tasks/{rel}"
    assert key not in seen, f"include loop through {key}"
    tasks = yaml.safe_load((roles / role / "tasks" / rel).read_text()) or []
    yield from _walk_list(roles, role, key, tasks, locked, always or [], (*seen, key))


def _walk_list(roles: Path, role: str, key: str, tasks: list[dict[str, Any]], locked: bool,
               always: list[dict[str, Any]], seen: tuple[str, ...]) -> Iterator[Call]:
    for index, task in enumerate(tasks):
        if _common(task, "lock"):
            later_always = [t for later in tasks[index + 1:] for t in later.get("always", [])]
            assert _has_unlock(always) or _has_unlock(later_always), (
                f"{key}: '{task.get('name')}' takes the lock without common's unlock in an always: section")
            locked = True
            yield Call(key, str(task.get("name")), LOCK, True)
            continue
        if "block" in task:
            inner_always = task.get("always", [])
            yield from _walk_list(roles, role, key, task["block"], locked, inner_always or always, seen)
            yield from _walk_list(roles, role, key, task.get("rescue", []), locked, inner_always or always, seen)
            yield from _walk_list(roles, role, key, inner_always, locked, always, seen)
            continue
        included = _include(task, "include_tasks") or _include(task, "import_tasks")
        if included is not None:
            name = included if isinstance(included, str) else included["file"]
            assert "{{" not in name, f"{key}: templated include {name} (the check cannot follow it)"
            yield from walk(roles, role, name, locked, always, seen)
            continue
        spec = _include(task, "include_role") or _include(task, "import_role")
        if isinstance(spec, dict) and spec.get("name", "").startswith("bxops.bitrix.") \
                and spec["name"] != "bxops.bitrix.common":
            other = spec["name"].split(".")[-1]
            entry = spec.get("tasks_from", "main")
            assert "{{" not in entry, f"{key}: templated tasks_from {entry}"
            yield from walk(roles, other, f"{entry}.yml", locked, always, seen)
            continue
        module = _changes_site(task)
        if module:
            yield Call(key, str(task.get("name")), module, locked)


@pytest.mark.parametrize(("role", "entry"), entry_points(), ids=lambda v: str(v))
def test_every_entry_point_that_changes_the_site_takes_the_lock(role: str, entry: str) -> None:
    reached = list(walk(ROLES, role, f"{entry}.yml"))
    calls = [c for c in reached if c.module != LOCK]
    unlocked = [f"{c.where}: '{c.task}' ({c.module})" for c in calls if not c.locked]
    assert unlocked == [], f"{role}:{entry} changes the site without the site lock"
    if (role, entry) in READ_ONLY:
        assert reached == [], f"{role}:{entry} is declared read-only ({READ_ONLY[(role, entry)]}) but reaches {reached}"
    else:
        assert any(c.module == LOCK for c in reached), f"{role}:{entry} is not declared read-only but never locks"


def test_the_checker_sees_an_unlocked_change(tmp_path: Path) -> None:
    """The walk on a role written for the test: the same restore is seen outside the lock, then inside it;
    a lock without an unlock in an always: section is refused."""
    tasks = tmp_path / "demo" / "tasks"
    tasks.mkdir(parents=True)
    lock = {"name": "lock", "ansible.builtin.include_role": {"name": "bxops.bitrix.common", "tasks_from": "lock"}}
    unlock = {"name": "unlock", "ansible.builtin.include_role": {"name": "bxops.bitrix.common", "tasks_from": "unlock"}}
    (tasks / "main.yml").write_text(yaml.safe_dump([
        {"name": "pre", "ansible.builtin.include_tasks": "run.yml"},
        {"name": "locked", "block": [lock, {"name": "again", "ansible.builtin.include_tasks": "run.yml"}],
         "always": [unlock]},
    ]))
    (tasks / "run.yml").write_text(yaml.safe_dump([
        {"name": "restore", "bxops.bitrix.bitrix_backup": {"action": "restore"}},
        {"name": "verify", "bxops.bitrix.bitrix_backup": {"action": "verify"}},
    ]))
    assert [(c.task, c.locked) for c in walk(tmp_path, "demo", "main.yml")] == [
        ("restore", False), ("lock", True), ("restore", True)]
    (tasks / "leaky.yml").write_text(yaml.safe_dump([lock, {"name": "x", "ansible.builtin.include_tasks": "run.yml"}]))
    with pytest.raises(AssertionError, match="without common's unlock"):
        list(walk(tmp_path, "demo", "leaky.yml"))


NESTED = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    bitrix_docroot: /srv/site
    bxops_state_dir: {state}
    bxops_run_id: outer-run
  tasks:
    - name: Outer role takes the lock (as update does)
      ansible.builtin.include_role: {{name: bxops.bitrix.common, tasks_from: lock}}
    - name: Inner role takes it too (as backup does inside update)
      ansible.builtin.include_role: {{name: bxops.bitrix.common, tasks_from: lock}}
    - name: Inner role releases
      ansible.builtin.include_role: {{name: bxops.bitrix.common, tasks_from: unlock}}
    - name: Still held by the outer role
      ansible.builtin.stat: {{path: "{lock}"}}
      register: after_inner
    - name: Outer role releases
      ansible.builtin.include_role: {{name: bxops.bitrix.common, tasks_from: unlock}}
    - name: Gone
      ansible.builtin.stat: {{path: "{lock}"}}
      register: after_outer
    - name: Show
      ansible.builtin.debug:
        msg: "inner={{{{ after_inner.stat.exists }}}} outer={{{{ after_outer.stat.exists }}}}"
"""


def test_a_role_locking_inside_another_does_not_release_the_outer_lock(tmp_path: Path) -> None:
    """update holds the lock and includes backup (main, restore), which lock themselves now: the inner
    unlock must leave the outer run's lock in place, the outer unlock removes it."""
    import os
    import subprocess
    import sys

    state = tmp_path / "state"
    lock = state / "locks" / "_srv_site.lock"
    playbook = tmp_path / "nested.yml"
    playbook.write_text(NESTED.format(state=state, lock=lock))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                           str(playbook)], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "inner=True outer=False" in proc.stdout
