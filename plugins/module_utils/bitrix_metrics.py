# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Bitrix metrics collector: one pass per site, written as node_exporter textfile metrics.

Used two ways: by the module ``bitrix_metrics`` (one run through Ansible, check-mode safe) and, on the
host, by the collector script the ``monitoring_agent`` role installs and a systemd timer runs
(``python3 bitrix_metrics.py --config FILE [--part site|backups]``). Stdlib only, Python 3.9.

Two parts, two levels of rights:

- ``site`` (run as the unprivileged collector user, in the site's group): the site's database through
  :class:`MysqlClient` with the ``db`` dict of the config (overdue agents, unsent mail events, the 1C
  exchange records, DB size, upload folder option), the docroot through :class:`Anchor` (sizes by
  ``lstat`` only, never through a symlink, no file content read but ``bitrix/html_pages/.enabled``'s
  existence), the served certificates over loopback, and the cached updates listing.
- ``backups`` (run as root, reads only bxops's own records under ``bxops_state_dir``, never the docroot):
  the newest complete backup of the docroot (``backup.json`` written by ``bitrix_backup``, mode 0600).

Each part writes its own file ``bitrix-<part>-<site>.prom`` atomically (temporary file + rename in the
same folder), so node_exporter never reads half a file.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_backup_records import list_backups
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import MysqlClient, given
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import Anchor
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import (
    COMPOSITE_CACHE,
    DEFAULT_UPLOAD_DIR,
    disposable_folders,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import db_credentials, resolve_upload_dir

PARTS = ("site", "backups")
SITE_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
#: Where sale's 1C order exchange records its runs (b_option, module sale): the unix time of the last
#: exchange 1C confirmed (``mode=success``) and of the last export it asked for (``mode=query``); the
#: name ends with the first 22 characters of the exchange script's path ("/bitrix/admin/1c_excha"),
#: one pair per exchange script.
EXCHANGE_COMMITTED = "last_export_time_committed_"
EXCHANGE_ATTEMPT = "last_export_time_"

#: name -> (type, help). Every metric the collector writes; HELP and TYPE lines come from here.
METRICS: dict[str, tuple[str, str]] = {
    "bitrix_collector_success": ("gauge", "1 when this part of the collector read everything it needs for the site"),
    "bitrix_collector_errors": ("gauge", "Number of checks of this part that failed in the last run (see the log)"),
    "bitrix_collector_duration_seconds": ("gauge", "Wall time of the last run of this part"),
    "bitrix_collector_last_run_timestamp_seconds": ("gauge", "Unix time of the last run of this part"),
    "bitrix_agents_overdue": ("gauge", "Active agents (b_agent ACTIVE=Y) whose NEXT_EXEC is in the past"),
    "bitrix_agents_overdue_oldest_age_seconds": (
        "gauge", "Seconds since the NEXT_EXEC of the most overdue active agent (0 when none is overdue)"),
    "bitrix_mail_events_unsent": ("gauge", "Mail events not sent yet (b_event SUCCESS_EXEC=N)"),
    "bitrix_exchange_1c_configured": (
        "gauge", "1 when the site has a record of a 1C order exchange (b_option sale last_export_time_*)"),
    "bitrix_exchange_1c_last_success_timestamp_seconds": (
        "gauge", "Unix time of the last 1C exchange 1C confirmed (sale last_export_time_committed_*)"),
    "bitrix_exchange_1c_last_success_age_seconds": ("gauge", "Seconds since the last 1C exchange 1C confirmed"),
    "bitrix_exchange_1c_errors": (
        "gauge", "1C exchanges whose last run was never confirmed (attempt newer than the last confirmation)"),
    "bitrix_composite_enabled": ("gauge", "1 while the composite cache is on (its .enabled flag file exists)"),
    "bitrix_upload_bytes": ("gauge", "Bytes of regular files in the upload folder, disposable subfolders excluded"),
    "bitrix_upload_files": ("gauge", "Regular files in the upload folder, disposable subfolders excluded"),
    "bitrix_disposable_bytes": ("gauge", "Bytes of regular files in a disposable folder (caches, temporary files)"),
    "bitrix_disposable_files": ("gauge", "Regular files in a disposable folder"),
    "bitrix_db_size_bytes": ("gauge", "Data and index bytes of the site's database (information_schema)"),
    "bitrix_updates_pending": ("gauge", "Core and module updates available (the last listing of the update system)"),
    "bitrix_updates_system_pending": ("gauge", "1 when the update system itself has a pending update"),
    "bitrix_updates_listing_age_seconds": ("gauge", "Seconds since the updates were last listed"),
    "bitrix_certificate_expiry_days": ("gauge", "Days until the certificate served for the domain expires"),
    "bitrix_certificate_served": ("gauge", "1 when a certificate was served for the domain on the TLS port"),
    "bitrix_backup_last_success_timestamp_seconds": ("gauge", "Unix time of the newest complete backup"),
    "bitrix_backup_last_age_seconds": ("gauge", "Seconds since the newest complete backup was made"),
    "bitrix_backup_last_size_bytes": ("gauge", "Size of the newest complete backup (archive, dump, manifest)"),
    "bitrix_backups": ("gauge", "Complete backups of the site kept on the host"),
}


class ConfigError(ValueError):
    """The collector's configuration is unusable (one line naming the key)."""


class Rows(Protocol):
    def rows(self, query: str) -> list[list[str | None]]: ...


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, **labels: str) -> None:
        if name not in METRICS:
            raise KeyError(name)
        self.samples.append(Sample(name, labels, float(value)))

    def check(self, what: str, fn: Callable[[], None]) -> None:
        """Run one check; a failure is recorded (one line) and the other checks still run."""
        try:
            fn()
        except Exception as exc:
            text = " ".join(str(exc).split()) or type(exc).__name__
            self.errors.append(f"{what}: {text}")


# ------------------------------------------------------------------------------------------ rendering
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 3))


def render(samples: Iterable[Sample]) -> str:
    """The text exposition format: one HELP and TYPE per metric name, samples grouped by name."""
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.name, []).append(sample)
    out: list[str] = []
    for name in sorted(grouped):
        kind, help_text = METRICS[name]
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for sample in grouped[name]:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
            out.append(f"{name}{{{labels}}} {_number(sample.value)}")
    return "\n".join(out) + "\n"


def write_atomic(folder: str, name: str, text: str, mode: int = 0o644) -> str:
    """Write ``folder/name`` whole or not at all: a temporary file in the same folder, fsync, rename."""
    path = os.path.join(folder, name)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


# ------------------------------------------------------------------------------------------ database
def _int(value: str | None) -> int:
    return int(float(value)) if value not in (None, "") else 0


def db_checks(client: Rows, result: Result, site: str, now: float) -> str | None:
    """Agents, mail events, 1C exchange, DB size; returns the site's upload_dir option (None if unread)."""
    upload: list[str | None] = [None]

    def agents() -> None:
        # The DB's own clock decides "in the past": NEXT_EXEC is stored in the DB server's time zone.
        row = client.rows(
            "SELECT COUNT(*), COALESCE(MAX(TIMESTAMPDIFF(SECOND, NEXT_EXEC, NOW())), 0) FROM b_agent "
            "WHERE ACTIVE='Y' AND NEXT_EXEC < NOW()")[0]
        result.add("bitrix_agents_overdue", _int(row[0]), site=site)
        result.add("bitrix_agents_overdue_oldest_age_seconds", max(0, _int(row[1])), site=site)

    def mail() -> None:
        row = client.rows("SELECT COUNT(*) FROM b_event WHERE SUCCESS_EXEC='N'")[0]
        result.add("bitrix_mail_events_unsent", _int(row[0]), site=site)

    def exchange() -> None:
        rows = client.rows(
            "SELECT NAME, VALUE FROM b_option WHERE MODULE_ID='sale' AND NAME LIKE 'last\\_export\\_time\\_%'")
        committed: dict[str, float] = {}
        attempts: dict[str, float] = {}
        for name, value in rows:
            if not name:
                continue
            try:
                stamp = float(value or "")
            except ValueError:
                continue
            if name.startswith(EXCHANGE_COMMITTED):
                committed[name[len(EXCHANGE_COMMITTED):]] = stamp
            else:
                attempts[name[len(EXCHANGE_ATTEMPT):]] = stamp
        result.add("bitrix_exchange_1c_configured", 1 if (committed or attempts) else 0, site=site)
        failed = sum(1 for page, stamp in attempts.items() if stamp > committed.get(page, 0.0))
        result.add("bitrix_exchange_1c_errors", failed, site=site)
        if committed:
            last = max(committed.values())
            result.add("bitrix_exchange_1c_last_success_timestamp_seconds", last, site=site)
            result.add("bitrix_exchange_1c_last_success_age_seconds", max(0.0, now - last), site=site)

    def size() -> None:
        row = client.rows("SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
                          "WHERE TABLE_SCHEMA = DATABASE()")[0]
        result.add("bitrix_db_size_bytes", _int(row[0]), site=site)

    def upload_option() -> None:
        rows = client.rows("SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='upload_dir' LIMIT 1")
        upload[0] = resolve_upload_dir(rows[0][0] if rows else None)

    result.check("agents (b_agent)", agents)
    result.check("mail events (b_event)", mail)
    result.check("1C exchange (b_option sale)", exchange)
    result.check("DB size", size)
    result.check("upload folder (main.upload_dir)", upload_option)
    return upload[0]


# ------------------------------------------------------------------------------------------ files
def tree_sizes(docroot: str, upload_dir: str, result: Result, site: str) -> None:
    """Sizes of the upload folder and of each disposable folder, by lstat through the anchored walk.

    Only those folders are walked (not the code under bitrix/modules). A symlinked folder or file counts
    as nothing and is never followed; a symlinked category root or upload root is reported as an error."""
    folders = disposable_folders(upload_dir)
    upload_skip = {f for f in folders if f.startswith(upload_dir + "/")}
    with Anchor(docroot) as anchor:
        for folder in folders:
            files = size = 0
            def count(folder: str = folder) -> None:
                nonlocal files, size
                if not anchor.require_dir(folder, "disposable folder"):
                    return
                for entry in anchor.walk(folder, on_error=lambda _rel, _exc: None):
                    if entry.is_file:
                        files += 1
                        size += entry.st.st_size
            result.check(f"size of {folder}", count)
            result.add("bitrix_disposable_files", files, site=site, folder=folder)
            result.add("bitrix_disposable_bytes", size, site=site, folder=folder)

        def uploads() -> None:
            files = size = 0
            if anchor.require_dir(upload_dir, "upload root (main.upload_dir)"):
                for entry in anchor.walk(upload_dir, prune=lambda e: e.rel in upload_skip,
                                         on_error=lambda _rel, _exc: None):
                    if entry.is_file:
                        files += 1
                        size += entry.st.st_size
            result.add("bitrix_upload_files", files, site=site)
            result.add("bitrix_upload_bytes", size, site=site)

        result.check(f"size of {upload_dir}", uploads)

        def composite() -> None:
            result.add("bitrix_composite_enabled", 1 if anchor.exists(COMPOSITE_CACHE + "/.enabled") else 0,
                       site=site)

        result.check("composite cache", composite)


# ------------------------------------------------------------------------------------------ certificates
def _not_after(der: bytes) -> datetime | None:
    try:
        from cryptography import x509  # the host's python3-cryptography, when present

        cert = x509.load_der_x509_certificate(der)
        value = getattr(cert, "not_valid_after_utc", None)
        return value if value is not None else cert.not_valid_after.replace(tzinfo=timezone.utc)
    except Exception:
        proc = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-enddate"], input=der,
                              capture_output=True, check=False)
        match = re.search(rb"notAfter=(.+)", proc.stdout)
        if not match:
            return None
        return datetime.strptime(match.group(1).decode().strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)


def served_certificate(host: str, port: int, domain: str, timeout: float) -> bytes | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # expiry is measured, trust is not the question here
    with socket.create_connection((host, port), timeout=timeout) as sock, \
            context.wrap_socket(sock, server_hostname=domain) as tls:
        return tls.getpeercert(binary_form=True)


def certificates(domains: list[str], host: str, port: int, timeout: float, result: Result, site: str,
                 now: float) -> None:
    for domain in domains:
        def one(domain: str = domain) -> None:
            der = None
            try:
                der = served_certificate(host, port, domain, timeout)
            finally:
                result.add("bitrix_certificate_served", 1 if der else 0, site=site, domain=domain)
            not_after = _not_after(der) if der else None
            if not_after is None:
                raise ValueError("no certificate could be read")
            days = (not_after.timestamp() - now) / 86400
            result.add("bitrix_certificate_expiry_days", round(days, 2), site=site, domain=domain)

        result.check(f"certificate of {domain}", one)


# ------------------------------------------------------------------------------------------ updates
def updates(listing_path: str, result: Result, site: str, now: float) -> None:
    """The cached listing (JSON ``{"listed_ts", "available": {module: ...}, "update_system_pending"}``)
    the role refreshes with ``bitrix_updates action=list``: listing needs the vendor's server and the
    site's PHP, so it is not repeated on every run; its age is exported so staleness shows."""
    if not listing_path:
        return
    with open(listing_path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("available"), dict):
        raise ValueError(f"{listing_path}: not an updates listing")
    result.add("bitrix_updates_pending", len(data["available"]), site=site)
    result.add("bitrix_updates_system_pending", 1 if data.get("update_system_pending") else 0, site=site)
    result.add("bitrix_updates_listing_age_seconds", max(0.0, now - float(data.get("listed_ts", 0))), site=site)


# ------------------------------------------------------------------------------------------ backups
def backups(backup_dir: str, docroot: str, result: Result, site: str, now: float) -> None:
    """The newest complete backup of ``docroot`` among ``backup_dir/<id>/backup.json`` (bitrix_backup's
    records: ``status`` complete, ``id`` = folder name, ``docroot``, ``created_ts``, ``size_bytes``)."""
    found = list_backups(backup_dir, docroot)
    result.add("bitrix_backups", len(found), site=site)
    if not found:
        return
    newest = found[0]  # newest first
    created = float(newest.get("created_ts", 0))
    result.add("bitrix_backup_last_success_timestamp_seconds", created, site=site)
    result.add("bitrix_backup_last_age_seconds", max(0.0, now - created), site=site)
    result.add("bitrix_backup_last_size_bytes", int(newest.get("size_bytes", 0)), site=site)


# ------------------------------------------------------------------------------------------ one site
@dataclass
class SiteConfig:
    name: str
    docroot: str
    domains: list[str] = field(default_factory=list)
    db: dict[str, str] = field(default_factory=dict)
    tls_host: str = "127.0.0.1"
    tls_port: int = 443
    tls_timeout: float = 5.0
    updates_listing: str = ""


def site_config(raw: Any, where: str) -> SiteConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: not a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not SITE_LABEL_RE.match(name):
        raise ConfigError(f"{where}.name={name!r}: letters, digits, '.', '_' and '-' only")
    docroot = raw.get("docroot")
    if not isinstance(docroot, str) or not docroot.startswith("/"):
        raise ConfigError(f"{where}.docroot={docroot!r}: an absolute path is required")
    domains = raw.get("domains") or []
    if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
        raise ConfigError(f"{where}.domains: a list of domain names is required")
    db = raw.get("db") or {}
    if not isinstance(db, dict):
        raise ConfigError(f"{where}.db: a mapping {{host, database, user, password}} is required")
    return SiteConfig(name=name, docroot=docroot.rstrip("/") or "/", domains=list(domains),
                      db={k: str(db.get(k) or "") for k in ("host", "database", "user", "password")},
                      tls_host=str(raw.get("tls_host") or "127.0.0.1"), tls_port=int(raw.get("tls_port") or 443),
                      tls_timeout=float(raw.get("tls_timeout") or 5.0),
                      updates_listing=str(raw.get("updates_listing") or ""))


def open_client(site: SiteConfig) -> MysqlClient:
    """The site's DB: the ``db`` values given (the vault's), the rest parsed (never run) from the site's
    ``bitrix/.settings.php`` or ``dbconn.php``, read through the anchored layer; values checked."""
    return MysqlClient(db_credentials(site.docroot, given(site.db)))


def collect_site(site: SiteConfig, client: Rows | None, now: float | None = None) -> Result:
    """The ``site`` part for one site; ``client`` None when the DB could not be opened."""
    now = time.time() if now is None else now
    result = Result()
    upload_dir = None
    if client is not None:
        upload_dir = db_checks(client, result, site.name, now)
    else:
        result.errors.append("database: no connection")
    if upload_dir is None:
        upload_dir = DEFAULT_UPLOAD_DIR
    result.check("docroot", lambda: tree_sizes(site.docroot, upload_dir or DEFAULT_UPLOAD_DIR, result, site.name))
    certificates(site.domains, site.tls_host, site.tls_port, site.tls_timeout, result, site.name, now)
    result.check("updates listing", lambda: updates(site.updates_listing, result, site.name, now))
    return result


def collect_backups(site: SiteConfig, backup_dir: str, now: float | None = None) -> Result:
    now = time.time() if now is None else now
    result = Result()
    result.check("backups", lambda: backups(backup_dir, site.docroot, result, site.name, now))
    return result


def finish(result: Result, site: str, part: str, started: float, now: float) -> str:
    """Append the collector's own health metrics (label ``part``: each part writes its own file, and one series
    may appear in one file only) and render the file's text."""
    result.add("bitrix_collector_success", 0 if result.errors else 1, site=site, part=part)
    result.add("bitrix_collector_errors", len(result.errors), site=site, part=part)
    result.add("bitrix_collector_duration_seconds", round(time.monotonic() - started, 3), site=site, part=part)
    result.add("bitrix_collector_last_run_timestamp_seconds", int(now), site=site, part=part)
    return render(result.samples)


def load_config(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object")
    for key in ("textfile_dir",):
        if not isinstance(data.get(key), str) or not data[key].startswith("/"):
            raise ConfigError(f"{path}: {key} must be an absolute path")
    if not isinstance(data.get("sites"), list) or not data["sites"]:
        raise ConfigError(f"{path}: sites must be a non-empty list")
    data["sites"] = [site_config(raw, f"sites[{i}]") for i, raw in enumerate(data["sites"])]
    data.setdefault("backup_dir", "/var/lib/bxops/backups")
    return data


def run_part(config: dict[str, Any], part: str, write: bool = True,
             client_factory: Callable[[SiteConfig], Any] = open_client) -> dict[str, Any]:
    """Collect ``part`` for every site of the config; write each site's file (unless ``write`` is false).

    Returns {site: {"file", "text", "errors"}}."""
    out: dict[str, Any] = {}
    for site in config["sites"]:
        started, now = time.monotonic(), time.time()
        if part == "backups":
            result = collect_backups(site, config["backup_dir"], now)
        else:
            client = None
            connect_error = ""
            try:
                client = client_factory(site)
            except Exception as exc:
                connect_error = " ".join(str(exc).split())
            try:
                result = collect_site(site, client, now)
            finally:
                if client is not None and hasattr(client, "close"):
                    client.close()
            if connect_error:
                result.errors = [f"database: {connect_error}"] + [e for e in result.errors
                                                                  if e != "database: no connection"]
        text = finish(result, site.name, part, started, now)
        name = f"bitrix-{part}-{site.name}.prom"
        if write:
            write_atomic(config["textfile_dir"], name, text)
        out[site.name] = {"file": os.path.join(config["textfile_dir"], name), "text": text,
                          "errors": result.errors}
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="bitrix-metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the collector's JSON config (the role writes it)")
    parser.add_argument("--part", choices=PARTS, default="site")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        print(f"bitrix-metrics: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    done = run_part(config, args.part)
    failed = 0
    for site, info in done.items():
        for error in info["errors"]:
            print(f"bitrix-metrics: site {site} ({args.part}): {error}", file=sys.stderr)
        failed += bool(info["errors"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
