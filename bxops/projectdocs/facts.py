"""What the docs say, gathered from the client's folder: the inventory (environments, hosts, the plain
group_vars), the playbooks the agency runs, and each host's latest audit report. Secret values are never
read into the facts: a variable whose name says it is a secret is kept by name and file only."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bxops.monthly.sources import audit_reports
from bxops.playbook_roles import playbook_roles

ENVIRONMENTS = ("staging", "production")
SECRET_NAME = re.compile(r"pass|secret|token|key|credential", re.I)
#: plain inventory variables shown in the README (values, never secrets)
SHOWN_VARS = ("bitrix_docroot", "bitrix_site_user", "bitrix_php_version", "bitrix_domains")
#: the agency's playbooks and what each does for the site, in the README's words
PLAYBOOKS = {
    "maintenance": "monthly: audit, core and module updates (backup first, staging gate), cleanup, permissions, "
    "certificates",
    "audit": "read-only audit (versions, PHP, disk, security, integrations, own code)",
    "backup": "files and database backup",
    "restore_drill": "restores the latest backup on a scratch copy and checks it",
    "monitoring": "exporters and the collector on the hosts, Prometheus and Alertmanager on the monitor",
    "php_upgrade": "PHP version switch with a smoke test (explicit, separate step)",
}


@dataclass
class Host:
    name: str
    environment: str
    address: str | None
    vars: dict[str, Any]
    audit: dict[str, Any] | None = None
    audit_day: str | None = None


@dataclass
class Facts:
    client: str
    hosts: list[Host]
    monitors: list[str]
    secrets: list[dict[str, str]]  # {"name", "file"}: where a secret lives, never its value
    playbooks: list[dict[str, Any]] = field(default_factory=list)


def _load_yaml(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return None  # an encrypted vault: its variable names are not readable either
    return yaml.safe_load(text)


def _group_vars(client_dir: Path, group: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A group's plain variables (secrets left out) and where its secrets live."""
    base = client_dir / "group_vars"
    files = sorted((base / group).glob("*.y*ml")) if (base / group).is_dir() else []
    files += [p for p in (base / f"{group}.yml", base / f"{group}.yaml") if p.is_file()]
    values: dict[str, Any] = {}
    secrets: list[dict[str, str]] = []
    for path in files:
        if path.is_symlink():
            continue
        try:
            data = _load_yaml(path)
        except (OSError, yaml.YAMLError):
            continue
        rel = str(path.relative_to(client_dir))
        if data is None and path.read_text(encoding="utf-8").lstrip().startswith("$ANSIBLE_VAULT"):
            secrets.append({"name": "(encrypted vault)", "file": rel})
            continue
        if not isinstance(data, dict):
            continue
        for name, value in data.items():
            if SECRET_NAME.search(str(name)):
                secrets.append({"name": str(name), "file": rel})
            else:
                values[str(name)] = value
    return values, secrets


def _inventory_hosts(inventory: Path) -> dict[str, list[tuple[str, str | None]]]:
    """Hosts of each group of a YAML inventory (children included), with their ansible_host."""
    data = _load_yaml(inventory) or {}
    groups: dict[str, list[tuple[str, str | None]]] = {}

    def walk(name: str, body: Any) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        if isinstance(body, dict):
            for host, hvars in (body.get("hosts") or {}).items():
                address = hvars.get("ansible_host") if isinstance(hvars, dict) else None
                found.append((str(host), str(address) if address is not None else None))
            for child, child_body in (body.get("children") or {}).items():
                found += walk(str(child), child_body)
        groups[name] = groups.get(name, []) + found
        return found

    if isinstance(data, dict):
        for name, body in data.items():
            walk(str(name), body)
    return groups


def latest_audits(client_dir: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each host's newest dated audit report (`reports/<host>/audit-YYYY-MM-DD.json`)."""
    return {host: (day.isoformat(), document) for host, reports in audit_reports(client_dir).items()
            for day, document in [reports[-1]]}


def gather(client: str, client_dir: Path, inventory: Path, playbooks_dir: Path) -> Facts:
    groups = _inventory_hosts(inventory) if inventory.suffix in (".yml", ".yaml") else {}
    common, secrets = _group_vars(client_dir, "all")
    audits = latest_audits(client_dir)
    hosts: list[Host] = []
    for environment in ENVIRONMENTS:
        env_vars, env_secrets = _group_vars(client_dir, environment)
        secrets += env_secrets
        for name, address in groups.get(environment, []):
            merged = {k: v for k, v in {**common, **env_vars}.items() if k in SHOWN_VARS}
            host = Host(name=name, environment=environment, address=address, vars=merged)
            if name in audits:
                host.audit_day, host.audit = audits[name]
            hosts.append(host)
    playbooks = []
    for name, what in PLAYBOOKS.items():
        path = playbooks_dir / f"{name}.yml"
        if path.is_file():
            playbooks.append({"name": name, "what": what, "roles": playbook_roles(path)})
    monitors = [name for name, _address in groups.get("monitor", [])]
    unique = {(s["name"], s["file"]): s for s in secrets}
    return Facts(client=client, hosts=hosts, monitors=monitors,
                 secrets=sorted(unique.values(), key=lambda s: (s["file"], s["name"])), playbooks=playbooks)
