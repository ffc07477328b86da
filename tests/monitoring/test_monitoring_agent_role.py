"""The monitoring_agent role's entry point: argument_specs in step with defaults, secrets marked no_log."""
from __future__ import annotations

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "monitoring_agent"
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
