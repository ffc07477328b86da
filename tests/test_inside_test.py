"""The `bxops.bitrix.inside` test plugin: the one "inside this path" check of the roles (issue 13).

Every expected answer is written by hand here, not computed from the plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bxops.bitrix.plugins.test import paths
from ansible_collections.bxops.bitrix.plugins.test.paths import inside

PROJECT = Path(__file__).resolve().parents[1]
DOCROOT = "/home/bitrix/www"


@pytest.mark.parametrize(("path", "root", "expected"), [
    ("/home/bitrix/www", DOCROOT, True),                 # the root itself
    ("/home/bitrix/www/", DOCROOT, True),                # trailing slash
    ("/home/bitrix/www/upload", DOCROOT, True),
    ("/home/bitrix/www//upload/./x/", DOCROOT, True),    # repeated slashes and "." do not matter
    ("/home/bitrix/www/bitrix/backup", "/home/bitrix/www/", True),
    ("/home/bitrix/www2", DOCROOT, False),               # a string prefix is not a parent
    ("/home/bitrix/www2/x", DOCROOT, False),
    ("/home/bitrix", DOCROOT, False),                    # a parent is not inside
    ("/", DOCROOT, False),
    ("/var/lib/bxops/backups", DOCROOT, False),
    ("/home/bitrix/www", "/", True),                     # everything is inside /
    ("/", "/", True),
    ("upload", DOCROOT, True),                           # relative: relative to the root
    ("bitrix/cache/", DOCROOT, True),
    ("", DOCROOT, True),                                 # empty relative path: the root itself
    (".", DOCROOT, True),
])
def test_inside_by_components(path: str, root: str, expected: bool) -> None:
    assert inside(path, root) is expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/home/bitrix/www", False),
    ("/home/bitrix/www/", False),
    ("/home/bitrix/www/./", False),
    ("", False),
    (".", False),
    ("./", False),
    ("upload", True),
    ("/home/bitrix/www/upload", True),
    ("/home/bitrix/wwwx", False),
])
def test_strict_leaves_the_root_itself_out(path: str, expected: bool) -> None:
    assert inside(path, DOCROOT, strict=True) is expected


@pytest.mark.parametrize(("path", "root"), [
    ("/home/bitrix/www/../www2", DOCROOT),    # lexically outside, never resolved
    ("/home/bitrix/www/upload/..", DOCROOT),  # lexically the root, still refused
    ("../etc", DOCROOT),
    ("upload/../../etc", DOCROOT),
    ("/var/lib/bxops", "/home/bitrix/../bitrix/www"),
])
def test_dotdot_is_refused_not_resolved(path: str, root: str) -> None:
    with pytest.raises(AnsibleFilterError, match=r"'\.\.' component; refused"):
        inside(path, root)


@pytest.mark.parametrize(("path", "root", "message"), [
    ("/x", "home/bitrix/www", "root must be an absolute path"),
    ("/x", "", "root must be an absolute path"),
    ("/x", None, "root must be an absolute path"),
    (None, DOCROOT, "path must be a path string"),
    (["upload"], DOCROOT, "path must be a path string"),
    ("upload\nx", DOCROOT, "control character"),
    ("/home/bitrix/www/a\x00b", DOCROOT, "control character"),
])
def test_bad_input_is_an_error(path: object, root: object, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        inside(path, root)


def test_the_plugin_exports_inside_only() -> None:
    assert list(paths.TestModule().tests()) == ["inside"]


PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Show what the test says
      ansible.builtin.debug:
        msg: >-
          R={{ '/var/lib/bxops' is bxops.bitrix.inside('/home/bitrix/www') }}
          {{ '/home/bitrix/www/upload' is bxops.bitrix.inside('/home/bitrix/www') }}
          {{ '/home/bitrix/www' is bxops.bitrix.inside('/home/bitrix/www', strict=true) }}
          {{ ['upload', '/etc', '', 'bitrix/cache'] | select('bxops.bitrix.inside', '/srv/s', strict=true) | list }}=E
    - name: Refuse a dotted path
      ansible.builtin.assert:
        that: "'/home/bitrix/www/../x' is not bxops.bitrix.inside('/home/bitrix/www')"
"""


def test_roles_reach_it_by_its_collection_name(tmp_path: Path) -> None:
    playbook = tmp_path / "inside.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                           str(playbook)], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert "R=False True False ['upload', 'bitrix/cache']=E" in proc.stdout, proc.stdout[-3000:]
    assert proc.returncode == 2  # the assert with '..' fails ...
    assert "'/home/bitrix/www/../x' has a '..' component; refused" in proc.stdout  # ... naming the path
