"""DB credentials in one shape between roles and modules (issue 13): every role task that calls a module
reading the site's database passes one `db` dict, and every role's dict falls back to the vault's
bitrix_db_* (audit and cleanup used to ignore them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
DB_MODULES = {"bitrix_audit", "bitrix_backup", "bitrix_cleanup", "bitrix_orphans", "bitrix_site_info", "bitrix_updates",
              "bitrix_updates_info", "bitrix_site_stopped"}
VAULT = ("bitrix_db_host", "bitrix_db_name", "bitrix_db_user", "bitrix_db_password")


def tasks(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for task in items or []:
        yield task
        for section in ("block", "rescue", "always"):
            yield from tasks(task.get(section, []))


def db_calls() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in sorted(PROJECT.glob("roles/*/tasks/*.yml")):
        for task in tasks(yaml.safe_load(path.read_text())):
            for module in DB_MODULES:
                args = task.get(f"bxops.bitrix.{module}")
                if args is not None:
                    found.append((str(path.relative_to(PROJECT)), module, args, task.get("vars", {})))
    return found


def test_the_roles_call_every_db_module() -> None:
    assert {module for _, module, _, _ in db_calls()} == DB_MODULES


@pytest.mark.parametrize(("where", "module", "args", "task_vars"), db_calls(), ids=lambda v: str(v)[:60])
def test_db_credentials_go_as_one_db_dict(where: str, module: str, args: dict[str, Any],
                                          task_vars: dict[str, Any]) -> None:
    action = args.get("action")
    if module == "bitrix_backup" and action in ("verify", "prune"):
        return  # no database involved
    if module == "bitrix_updates" and action != "begin":
        return  # apply and cleanup run the console and touch files
    gather = args.get("gather", ["updates"])
    if module == "bitrix_updates_info" and "state" not in gather \
            and not ("checks" in gather and args.get("check_agents")):
        return  # the list runs the console; the checks read b_agent only for check_agents
    assert "db" in args, f"{where}: {module} gets no db credentials (the vault's would be ignored)"
    assert not {"db_credentials", "db_host", "db_name", "db_user", "db_password"} & set(args)


def _role_text(role: str) -> str:
    return "\n".join(p.read_text() for p in sorted((PROJECT / "roles" / role).glob("**/*.yml")))


@pytest.mark.parametrize("role", ["audit", "backup", "cleanup", "update", "common"])
def test_each_role_falls_back_to_the_vault(role: str) -> None:
    text = _role_text(role)
    for name in VAULT:
        assert name in text, f"the {role} role never reads {name}"


def test_the_audit_and_cleanup_pass_the_vault_by_default() -> None:
    cleanup = yaml.safe_load((PROJECT / "roles/cleanup/defaults/main.yml").read_text())["cleanup_db"]
    assert cleanup == {"host": "{{ bitrix_db_host }}", "database": "{{ bitrix_db_name }}",
                       "user": "{{ bitrix_db_user }}", "password": "{{ bitrix_db_password }}"}
    (audit,) = [(args, task_vars) for where, module, args, task_vars in db_calls() if module == "bitrix_audit"]
    assert audit[0]["db"] == "{{ bxops_site_db_credentials | default(__audit_db) }}"
    assert audit[1]["__audit_db"] == {"host": "{{ bitrix_db_host }}", "database": "{{ bitrix_db_name }}",
                                      "user": "{{ bitrix_db_user }}", "password": "{{ bitrix_db_password }}"}
