"""Render the three documents (Jinja2) and write those that changed, each change appended to the client's
CHANGELOG.md as a unified diff. The documents hold no clock time (only the audits' own dates), so a
regeneration from the same facts changes nothing and appends nothing."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bxops.projectdocs.facts import Facts, Host

DOCS = ("README.md", "integrations.md", "components.md")
DOCS_FOLDER = "docs"
CHANGELOG = "CHANGELOG.md"
_HERE = Path(__file__).parent
#: the update role's table header (roles/update/tasks/record.yml): the changelog is started the same way, and the
#: table is opened again after a docs entry, so update rows appended later stay in a table
CHANGELOG_HEAD = (
    "# Changelog of {client}\n\nCore and module updates applied by bxops (bxops.bitrix.update), oldest first.\n\n"
)
TABLE_HEAD = "| date (UTC) | environment | host | module | version from → to | run |\n|---|---|---|---|---|---|\n"


#: the audit's web_stack.kind (bitrix_webstack) in the docs' words
WEB_STACKS = {
    "nginx+php_fpm": "nginx + PHP-FPM",
    "nginx+apache_mod_php": "nginx + Apache (mod_php)",
    "apache_mod_php": "Apache (mod_php)",
    "nginx": "nginx",
}


@dataclass
class DocsResult:
    folder: Path
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changelog: Path | None = None


def human_bytes(value: Any) -> str:
    try:
        size = float(value)
    except (TypeError, ValueError):
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def md_cell(value: Any) -> str:
    """A value safe inside a Markdown table cell (pipes and newlines escaped; None as a dash)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _get(document: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def host_view(host: Host) -> dict[str, Any]:
    """One host's facts, flat, for the templates (audit fields of either schema; absent ones None); a site of a
    host with several sites is one such view, labelled `host / site`."""
    audit = host.audit or {}
    web = WEB_STACKS.get(str(_get(audit, "web_stack", "kind"))) or (
        "nginx + PHP-FPM" if _get(audit, "php", "serving", "socket") else None)
    schema = audit.get("schema")
    return {
        "name": host.name, "site": host.site, "label": host.name if host.site is None else f"{host.name} / {host.site}",
        "environment": host.environment, "address": host.address,
        "domains": host.vars.get("bitrix_domains") or [], "site_user": host.vars.get("bitrix_site_user"),
        "docroot": audit.get("docroot") or host.vars.get("bitrix_docroot"),
        "php_version": _get(audit, "php", "serving", "version") or _get(audit, "web_stack", "php_version")
        or host.vars.get("bitrix_php_version"),
        "audit_day": host.audit_day, "schema": schema, "audited": bool(audit),
        "os": _get(audit, "os", "name"), "web": web, "db_server": _get(audit, "db", "server_version"),
        "core": _get(audit, "core", "version"), "db_bytes": _get(audit, "db", "bytes"),
        "db_host": _get(audit, "db", "host"), "db_name": _get(audit, "db", "database"),
        "disk_free": _get(audit, "disk", "bytes_free"), "upload_dir": _get(audit, "uploads", "dir"),
        "integrations": audit.get("integrations") if isinstance(audit.get("integrations"), dict) else None,
        "components": audit.get("components") if isinstance(audit.get("components"), dict) else None,
    }


def render(facts: Facts) -> dict[str, str]:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(_HERE / "templates")), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["bytes"] = human_bytes
    env.filters["cell"] = md_cell
    out = {}
    for name in DOCS:
        text = env.get_template(name + ".j2").render(facts=facts, hosts=[host_view(h) for h in facts.hosts])
        out[name] = "\n".join(line.rstrip() for line in text.splitlines()).strip() + "\n"
    return out


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_docs(facts: Facts, client_dir: Path, now: datetime | None = None) -> DocsResult:
    """Write the changed documents into `<client_dir>/docs/`; append their diffs to `<client_dir>/CHANGELOG.md`."""
    folder = client_dir / DOCS_FOLDER
    if folder.is_symlink():
        raise OSError(f"refusing {folder}: it is a symlink")
    folder.mkdir(mode=0o755, exist_ok=True)
    result = DocsResult(folder=folder)
    diffs: list[tuple[str, str]] = []
    for name, text in render(facts).items():
        path = folder / name
        old = path.read_text(encoding="utf-8") if path.is_file() and not path.is_symlink() else None
        if old == text:
            result.unchanged.append(name)
            continue
        diff = None
        if old is not None:  # a new document is announced, not copied into the changelog
            diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), text.splitlines(keepends=True),
                                                fromfile=f"a/{DOCS_FOLDER}/{name}", tofile=f"b/{DOCS_FOLDER}/{name}",
                                                n=1))
        _write_atomic(path, text)
        result.changed.append(name)
        created = f"created {DOCS_FOLDER}/{name} ({len(text.splitlines())} lines)"
        diffs.append((name, diff if diff is not None else created))
    if diffs:
        result.changelog = append_changelog(client_dir, facts.client, diffs, now or datetime.now(UTC))
    return result


def append_changelog(client_dir: Path, client: str, diffs: list[tuple[str, str]], now: datetime) -> Path:
    path = client_dir / CHANGELOG
    if path.is_symlink():
        raise OSError(f"refusing {path}: it is a symlink")
    text = path.read_text(encoding="utf-8") if path.is_file() else CHANGELOG_HEAD.format(client=client) + TABLE_HEAD
    if not text.endswith("\n"):
        text += "\n"
    names = ", ".join(name for name, _diff in diffs)
    entry = [f"\n### {now.strftime('%Y-%m-%d %H:%M')} UTC · project docs changed: {names}\n"]
    for _name, diff in diffs:
        if diff.startswith("created "):
            entry.append(f"\n- {diff}\n")
            continue
        fence = "````" if "```" in diff else "```"
        entry.append(f"\n{fence}diff\n{diff}{'' if diff.endswith(chr(10)) else chr(10)}{fence}\n")
    entry.append("\n" + TABLE_HEAD)
    _write_atomic(path, text + "".join(entry))
    return path
