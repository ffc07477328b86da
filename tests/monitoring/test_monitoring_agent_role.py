"""The monitoring_agent role's entry point: argument_specs in step with defaults, secrets marked no_log."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
ROLE = PROJECT / "roles" / "monitoring_agent"
COMMON_OPTIONS = {"bitrix_docroot", "bitrix_site_user", "bitrix_site_group", "bitrix_domains", "bxops_state_dir"}


def test_argument_specs_follow_the_defaults() -> None:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    options = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(options) - COMMON_OPTIONS == set(defaults)
    for name, value in defaults.items():
        assert options[name]["default"] == value, name


def test_the_vault_secrets_are_no_log_in_the_specs() -> None:
    options = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    secrets = {name for name in options if name.endswith("password")}
    assert secrets == {"monitoring_agent_basic_auth_password", "monitoring_agent_mysqld_exporter_password"}
    assert all(options[name].get("no_log") for name in secrets)


def run_role(tmp_path: Path, **role_vars: object) -> subprocess.CompletedProcess[str]:
    """The role on localhost, stopping at whatever refuses first (preflight runs before any change)."""
    play = [{"name": "agent", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "roles": [{"role": "bxops.bitrix.monitoring_agent", "vars": role_vars}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_ROLES_PATH=str(PROJECT / "roles"))
    # The role gathers the OS family first (common): a module runs on localhost, with this interpreter.
    return subprocess.run(["ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                           str(tmp_path / "play.yml")], cwd=PROJECT, env=env,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)


GOOD = {"monitoring_agent_basic_auth_password": "s3cret-scrape",
        "monitoring_agent_mysqld_exporter_password": "s3cret-db"}


@pytest.mark.parametrize(("override", "named"), [
    ({"monitoring_agent_basic_auth_password": ""}, "monitoring_agent_basic_auth_password is empty"),
    ({"monitoring_agent_mysqld_exporter_password": ""}, "monitoring_agent_mysqld_exporter_password is empty"),
    ({"monitoring_agent_mysqld_exporter_password": "a`b"},
     "monitoring_agent_mysqld_exporter_password holds a backtick or a control character"),
    ({"monitoring_agent_mysqld_exporter_password": "S3cret\tTab"},
     "monitoring_agent_mysqld_exporter_password holds a backtick or a control character"),
    ({"monitoring_agent_mysqld_exporter_password": "S3CRET-Upper-123", "monitoring_agent_site": "a b"},
     "monitoring_agent_site=a b"),  # an ordinary password passes its check
    ({"monitoring_agent_node_exporter_port": "nine"}, "monitoring_agent_node_exporter_port"),
    ({"monitoring_agent_listen_address": "0.0.0.0; rm -rf /"},
     "monitoring_agent_listen_address=0.0.0.0; rm -rf /: must be an address"),
    ({"monitoring_agent_site": "a b"}, "monitoring_agent_site=a b: must be a label"),
    ({"monitoring_agent_status_port": 9100}, "monitoring_agent_status_port=9100: the exporters' ports and the status"),
    ({"monitoring_agent_tls_port": 70000}, "monitoring_agent_tls_port=70000: must be a TCP port"),
    ({"monitoring_agent_systemd_units": "a b"}, "monitoring_agent_systemd_units=a b: must be a regular expression"),
])
def test_bad_input_is_refused_before_any_change_naming_the_variable(tmp_path: Path, override: dict[str, object],
                                                                    named: str) -> None:
    proc = run_role(tmp_path, **{**GOOD, **override})
    assert proc.returncode != 0
    assert named in proc.stdout
    assert "s3cret" not in proc.stdout  # the other secret never shows
    assert "Install node_exporter" not in proc.stdout  # refused before the first change


def run_module(tmp_path: Path, check: bool = False) -> dict:
    args = {"sites": [{"name": "shop", "docroot": "/srv/www"}], "textfile_dir": str(tmp_path / "tf"),
            "backup_dir": str(tmp_path / "backups"), "parts": ["backups"]}
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "bxops.bitrix.bitrix_metrics", "-a",
                           json.dumps(args), *(["--check"] if check else [])], cwd=PROJECT, env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_the_module_reports_a_change_only_for_a_new_file_and_check_mode_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    (tmp_path / "backups/20260502T030000Z").mkdir(parents=True)
    (tmp_path / "backups/20260502T030000Z/backup.json").write_text(json.dumps(
        {"id": "20260502T030000Z", "status": "complete", "docroot": "/srv/www", "created_ts": 1000, "size_bytes": 42}))
    preview = run_module(tmp_path, check=True)
    assert preview["changed"] is True and os.listdir(tmp_path / "tf") == []
    first = run_module(tmp_path)
    assert first["changed"] is True
    assert first["sites"]["shop"]["backups"]["values"]["bitrix_backup_last_size_bytes"] == 42
    assert os.listdir(tmp_path / "tf") == ["bitrix-backups-shop.prom"]
    assert run_module(tmp_path)["changed"] is False
