"""OS-family data: what differs between Debian and EL hosts is data in each role's vars/<family>.yml, loaded by
common's one include (roles/common/tasks/os_family.yml) before a role validates its arguments; an OS family
with no data is refused in one line. The expected paths below are written by hand from the distributions'
layouts (Debian's packages; EL/remi/BitrixVM's), not read from the files under test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
ROLES = PROJECT / "roles"
FAMILIES = ("Debian", "RedHat")
VM_HELPER_ROLES = {"php_upgrade"}  # its vars/ are kept by the BitrixVM work; loaded by the same include


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _data_roles() -> list[str]:
    return sorted(p.parent.parent.name for p in ROLES.glob("*/vars/Debian.yml"))


def test_the_include_lists_every_role_with_family_data() -> None:
    listed = set(_yaml(ROLES / "common/vars/main.yml")["__common_family_data_roles"])
    assert set(_data_roles()) <= listed
    assert listed <= {p.name for p in ROLES.iterdir() if (p / "tasks").is_dir()}
    assert set(_yaml(ROLES / "common/vars/main.yml")["__common_families"]) == set(FAMILIES)


@pytest.mark.parametrize("role", [r for r in _data_roles() if r not in VM_HELPER_ROLES])
def test_each_family_defines_the_same_names_under_the_role_s_prefix(role: str) -> None:
    prefix = f"__{role}_os_"
    names = {family: set(_yaml(ROLES / role / "vars" / f"{family}.yml")) for family in FAMILIES}
    assert names["Debian"] == names["RedHat"], role
    assert all(name.startswith(prefix) for name in names["Debian"]), names["Debian"]


def test_every_os_name_a_role_uses_is_defined_for_both_families() -> None:
    used = re.compile(r"\b(__[a-z_]+_os_[a-z_]+)\b")
    for role_dir in sorted(p for p in ROLES.iterdir() if p.is_dir() and p.name not in VM_HELPER_ROLES):
        for path in [*role_dir.glob("defaults/*.yml"), *role_dir.glob("meta/*.yml"), *role_dir.glob("tasks/*.yml"),
                     *role_dir.glob("templates/*.j2")]:
            for name in set(used.findall(path.read_text(encoding="utf-8"))):
                owner = ROLES / ("common" if name.startswith("__common_os_") else role_dir.name) / "vars"
                for family in FAMILIES:
                    assert name in (_yaml(owner / f"{family}.yml") or {}), f"{path.relative_to(PROJECT)}: {name}"


# The Debian defaults as they were literal before they became data (what the Debian 12 scenarios rely on) and
# the EL layout (BitrixVM on Rocky/Alma: httpd, remi's PHP, BitrixVM's nginx folders).
EXPECTED = {
    "Debian": {
        "__cleanup_os_log_dirs": ["/var/log/nginx", "/var/log/php"],
        "__update_os_smoke_logs": ["/var/log/php/bitrix-fpm-error.log", "/var/log/nginx/bitrix_error.log"],
        "__certificates_os_nginx_available_dir": "/etc/nginx/sites-available",
        "__certificates_os_nginx_enabled_dir": "/etc/nginx/sites-enabled",
        "__certificates_os_ssl_dir": "/etc/nginx/ssl",
        "__monitoring_agent_os_php_conf_dir": "/etc/php",
        "__monitoring_agent_os_mysql_socket": "/run/mysqld/mysqld.sock",
        "__backup_os_db_service": "mariadb.service",
        "__common_os_package_manager": "apt",
        "__common_os_nginx_user": "www-data",
        "__common_os_httpd_conf_dir": "/etc/apache2",
    },
    "RedHat": {
        "__cleanup_os_log_dirs": ["/var/log/nginx", "/var/log/httpd", "/var/log/php-fpm"],
        "__update_os_smoke_logs": ["/var/log/httpd/error_log", "/var/log/nginx/error.log"],
        "__certificates_os_nginx_available_dir": "/etc/nginx/bx/site_avaliable",
        "__certificates_os_nginx_enabled_dir": "/etc/nginx/bx/site_enabled",
        "__certificates_os_ssl_dir": "/etc/nginx/certs",
        "__monitoring_agent_os_php_conf_dir": "/etc/opt/remi",
        "__monitoring_agent_os_mysql_socket": "/var/lib/mysql/mysql.sock",
        "__backup_os_db_service": "mariadb.service",
        "__common_os_package_manager": "dnf",
        "__common_os_nginx_user": "nginx",
        "__common_os_httpd_conf_dir": "/etc/httpd",
    },
}

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: bxops.bitrix.common
    - ansible.builtin.debug:
        msg: "BXOPS-OS {{ {'family': ansible_facts.os_family, 'data': __data} | to_json }}"
      vars:
        __data: "{{ dict(__names | zip(__names | map('extract', vars))) }}"
        __names: %s
"""


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "os_family.yml"
    playbook.write_text(PLAYBOOK % json.dumps(sorted(EXPECTED["Debian"])), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
            str(playbook), *extra]
    return subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)


def _loaded(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    line = next(text for text in proc.stdout.splitlines() if "BXOPS-OS " in text)
    msg = json.loads(line.split(":", 1)[1].strip().rstrip(","))  # "msg": "BXOPS-OS {...}"
    return json.loads(msg.split("BXOPS-OS ", 1)[1])


def test_this_debian_machine_loads_the_debian_data(tmp_path: Path) -> None:
    """The machine running the tests is Debian 12: facts gathered by the include, Debian data loaded."""
    got = _loaded(_run(tmp_path))
    assert got == {"family": "Debian", "data": EXPECTED["Debian"]}


def test_an_el_host_gets_the_el_data(tmp_path: Path) -> None:
    got = _loaded(_run(tmp_path, "-e", json.dumps({"ansible_facts": {"os_family": "RedHat"}})))
    assert got == {"family": "RedHat", "data": EXPECTED["RedHat"]}


def test_an_unsupported_family_is_refused_in_one_line(tmp_path: Path) -> None:
    facts = {"os_family": "Suse", "distribution": "openSUSE Leap", "distribution_version": "15.5"}
    proc = _run(tmp_path, "-e", json.dumps({"ansible_facts": facts}))
    assert proc.returncode == 2
    expected = ("bxops supports the Debian and RedHat OS families; localhost is openSUSE Leap 15.5 (Suse family): "
                "nothing was changed.")
    assert expected in proc.stdout + proc.stderr
    assert "BXOPS-OS" not in proc.stdout
