"""What the docs say, gathered from the client's folder: the inventory (environments, hosts, the plain
group_vars), the playbooks the agency runs, and each host's latest audit report (each site's, on a host with
several sites: `reports/<host>/sites/<site>/`). Secret values are never read into the facts: a variable whose
name says it is a secret is kept by name and file only, and of `bitrix_sites` only the plain keys are kept."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bxops.monthly.sources import AuditKey, site_audit_reports
from bxops.playbook_roles import playbook_roles

ENVIRONMENTS = ("staging", "production")
SECRET_NAME = re.compile(r"pass|secret|token|key|credential", re.I)
#: plain inventory variables shown in the README (values, never secrets)
SHOWN_VARS = ("bitrix_docroot", "bitrix_site_user", "bitrix_php_version", "bitrix_domains")
#: the keys of a `bitrix_sites` entry the docs show (never `db`: it holds the site's DB password)
SHOWN_SITE_KEYS = ("docroot", "site_user", "domains")
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
    #: the site's name on a host with several sites (one Host per site); None for a one-site host
    site: str | None = None


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


def _yaml_files(paths: list[Path]) -> list[tuple[Path, Any]]:
    """Each readable YAML file with its content; symlinks and files that do not parse are left out."""
    out: list[tuple[Path, Any]] = []
    for path in paths:
        if path.is_symlink():
            continue
        try:
            out.append((path, _load_yaml(path)))
        except (OSError, yaml.YAMLError):
            continue
    return out


def _group_vars(client_dir: Path, group: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A group's plain variables (secrets left out) and where its secrets live."""
    base = client_dir / "group_vars"
    files = sorted((base / group).glob("*.y*ml")) if (base / group).is_dir() else []
    files += [p for p in (base / f"{group}.yml", base / f"{group}.yaml") if p.is_file()]
    values: dict[str, Any] = {}
    secrets: list[dict[str, str]] = []
    for path, data in _yaml_files(files):
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


def _inventory(inventory: Path) -> tuple[dict[str, list[tuple[str, str | None]]], dict[str, dict[str, Any]]]:
    """A YAML inventory read once: the hosts of each group (children included) with their ansible_host, and each
    host's own variables."""
    data = _load_yaml(inventory) if inventory.suffix in (".yml", ".yaml") else None
    groups: dict[str, list[tuple[str, str | None]]] = {}
    host_vars: dict[str, dict[str, Any]] = {}

    def walk(name: str, body: Any) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        if isinstance(body, dict):
            for host, hvars in (body.get("hosts") or {}).items():
                address = hvars.get("ansible_host") if isinstance(hvars, dict) else None
                found.append((str(host), str(address) if address is not None else None))
                if isinstance(hvars, dict):
                    host_vars[str(host)] = hvars
            for child, child_body in (body.get("children") or {}).items():
                found += walk(str(child), child_body)
        groups[name] = groups.get(name, []) + found
        return found

    if isinstance(data, dict):
        for name, body in data.items():
            walk(str(name), body)
    return groups, host_vars


def _host_sites(host_vars: dict[str, dict[str, Any]], client_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Each host's own `bitrix_sites` (plain keys only): from its variables in the inventory, or from
    `host_vars/<host>.yml`."""
    found = {host: _plain_sites(hvars["bitrix_sites"]) for host, hvars in host_vars.items() if "bitrix_sites" in hvars}
    folder = client_dir / "host_vars"
    if folder.is_dir() and not folder.is_symlink():
        for path, data in _yaml_files(sorted(folder.glob("*.y*ml"))):
            if isinstance(data, dict) and "bitrix_sites" in data:
                found[path.stem] = _plain_sites(data["bitrix_sites"])
    return found


def latest_audits(client_dir: Path) -> dict[AuditKey, tuple[str, dict[str, Any]]]:
    """Each host's newest dated audit report (`reports/<host>/audit-YYYY-MM-DD.json`), keyed (host, None); on
    a host with several sites, each site's (`reports/<host>/sites/<site>/`), keyed (host, site)."""
    return {key: (day.isoformat(), document) for key, reports in site_audit_reports(client_dir).items()
            for day, document in [reports[-1]]}


def _plain_sites(value: Any) -> list[dict[str, Any]]:
    """The `bitrix_sites` of the inventory, only the shown keys of each (name, docroot, site_user, domains)."""
    if not isinstance(value, list):
        return []
    found = []
    for entry in value:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            found.append({"name": entry["name"], **{k: entry[k] for k in SHOWN_SITE_KEYS if k in entry}})
    return found


def _site_vars(merged: dict[str, Any], site: dict[str, Any]) -> dict[str, Any]:
    shown = {"bitrix_docroot": "docroot", "bitrix_site_user": "site_user", "bitrix_domains": "domains"}
    return {**merged, **{var: site[key] for var, key in shown.items() if key in site}}


def gather(client: str, client_dir: Path, inventory: Path, playbooks_dir: Path) -> Facts:
    groups, host_vars = _inventory(inventory)
    common, secrets = _group_vars(client_dir, "all")
    audits = latest_audits(client_dir)
    own_sites = _host_sites(host_vars, client_dir)
    hosts: list[Host] = []
    for environment in ENVIRONMENTS:
        env_vars, env_secrets = _group_vars(client_dir, environment)
        secrets += env_secrets
        group_sites = _plain_sites({**common, **env_vars}.get("bitrix_sites"))
        for name, address in groups.get(environment, []):
            listed = own_sites.get(name, group_sites)
            merged = {k: v for k, v in {**common, **env_vars}.items() if k in SHOWN_VARS}
            # a host with several sites: a Host per site, the inventory's sites first, then sites only audited
            site_names = [s["name"] for s in listed]
            site_names += sorted(site for host, site in audits if host == name and site and site not in site_names)
            if not site_names:
                host = Host(name=name, environment=environment, address=address, vars=merged)
                if (name, None) in audits:
                    host.audit_day, host.audit = audits[(name, None)]
                hosts.append(host)
                continue
            for site_name in site_names:
                entry = next((s for s in listed if s["name"] == site_name), {})
                host = Host(name=name, environment=environment, address=address, vars=_site_vars(merged, entry),
                            site=site_name)
                if (name, site_name) in audits:
                    host.audit_day, host.audit = audits[(name, site_name)]
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
