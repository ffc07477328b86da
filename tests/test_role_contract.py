"""The contract between common and the roles (issue 13): the shared variables are declared and defaulted by
common alone, every role depends on common (so its spec validates them, also for a role run alone), and no
role or playbook keeps a fallback copy of them (`| default(...)`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
ROLES = PROJECT / "roles"
#: Written by hand: the variables every role shares (roles/common/README.md).
SHARED = {
    "bitrix_docroot": "/home/bitrix/www", "bitrix_site_user": "bitrix", "bitrix_site_group": "{{ bitrix_site_user }}",
    "bitrix_domains": [], "bitrix_db_host": "", "bitrix_db_name": "", "bitrix_db_user": "", "bitrix_db_password": "",
    "bxops_state_dir": "/var/lib/bxops", "bxops_run_id": "", "bxops_lock_stale_after": 21600,
    "bxops_lock_purpose": "maintenance",
}
ROLE_NAMES = ["audit", "backup", "certificates", "cleanup", "permissions", "php_upgrade", "update"]


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_common_declares_and_defaults_each_shared_variable_once() -> None:
    main = _yaml(ROLES / "common/meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert {name: main[name].get("default") for name in SHARED} == SHARED
    defaults = _yaml(ROLES / "common/defaults/main.yml")
    assert {name: defaults[name] for name in SHARED} == SHARED
    assert main["bitrix_db_password"].get("no_log") is True


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_no_role_redeclares_a_shared_variable(role: str) -> None:
    specs = _yaml(ROLES / role / "meta/argument_specs.yml")["argument_specs"]
    for entry, body in specs.items():
        assert set(body.get("options") or {}) & set(SHARED) == set(), f"{role} {entry}"
    assert set(_yaml(ROLES / role / "defaults/main.yml")) & set(SHARED) == set()


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_role_depends_on_common(role: str) -> None:
    assert _yaml(ROLES / role / "meta/main.yml")["dependencies"] == [{"role": "bxops.bitrix.common"}]


def test_no_fallback_copy_of_a_shared_variable() -> None:
    fallback = re.compile(r"\b(" + "|".join(SHARED) + r")\b[^|}\n]*\|\s*default\(")
    found = []
    files = [p for p in sorted((ROLES).glob("**/*.yml")) if "molecule" not in p.parts]
    files += sorted((PROJECT / "playbooks").glob("*.yml"))
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # Another host's hostvars (the monitor reading its clients) hold no role defaults: a fallback there
            # is the only way to read them, not a copy of this host's contract.
            if fallback.search(line) and "hv[" not in line and "hostvars[" not in line:
                found.append(f"{path.relative_to(PROJECT)}:{number}: {line.strip()}")
    assert found == []


def test_the_fallback_scan_sees_a_fallback() -> None:
    fallback = re.compile(r"\b(" + "|".join(SHARED) + r")\b[^|}\n]*\|\s*default\(")
    assert fallback.search("x: \"{{ (bitrix_docroot | default('/home/bitrix/www')) | regex_replace('/+$', '') }}\"")
    assert fallback.search("x: \"{{ bxops_state_dir | default('/var/lib/bxops') }}/quarantine\"")
    assert not fallback.search("host: \"{{ backup_db_host | default(bitrix_db_host) }}\"")  # a fallback TO it


CASES = {  # case -> (vars, what the refusal must say); hand-written
    "state dir in the docroot": ({"bxops_state_dir": "/home/bitrix/www/bxops"},
                                 "bxops_state_dir must lie outside the docroot"),
    "docroot in the state dir": ({"bitrix_docroot": "/var/lib/bxops/www"},
                                 "bxops_state_dir must lie outside the docroot"),
    "relative docroot": ({"bitrix_docroot": "home/bitrix/www"}, "must be absolute"),
    "stale after not a number": ({"bxops_lock_stale_after": "soon"}, "bxops_lock_stale_after"),
    "dotted state dir": ({"bxops_state_dir": "/home/bitrix/www/../bxops"}, "'..' component; refused"),
}

PLAY = """
- name: "{name}"
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the role alone
      block:
        - name: Run the role alone
          ansible.builtin.include_role:
            name: bxops.bitrix.{role}
          vars: {vars}
      rescue:
        - name: Keep the refusal
          ansible.builtin.copy:
            content: "{{{{ ansible_failed_task.name ~ ' :: ' ~ ansible_failed_result.msg }}}}"
            dest: "{out}/{name}.txt"
            mode: "0600"
"""


@pytest.mark.parametrize("role", ["audit", "backup"])
def test_a_role_run_alone_validates_the_shared_variables_before_touching_the_host(role: str, tmp_path: Path) -> None:
    """No test host: common's validation and checks run on the controller before the role's first task, so a
    refusal here proves nothing reached a host."""
    playbook = tmp_path / "contract.yml"
    playbook.write_text("---" + "".join(PLAY.format(name=name, role=role, vars=json.dumps(v), out=tmp_path)
                                        for name, (v, _) in CASES.items()))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                           str(playbook)], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for name, (_, message) in CASES.items():
        refusal = (tmp_path / f"{name}.txt").read_text()
        assert message in refusal, (name, refusal)
        task = refusal.split(" :: ")[0]
        common = ("Check the docroot and the state folder", "Validating arguments against arg spec 'main'")
        assert task.startswith(common), (name, refusal)  # refused by common's contract, before any task of the role
