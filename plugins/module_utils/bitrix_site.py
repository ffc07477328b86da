# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-side helpers shared by the collection's modules.

They read what a Bitrix site says about itself (versions, kernel settings, dbconn
constants) and stream rows from its MariaDB database through the `mysql` client, so
modules need nothing beyond the host's python3 and the tools a Bitrix host has.
Facts used here: docs/bitrix-maintenance (sections 1 and 4).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

CORE_VERSION_FILE = "bitrix/modules/main/classes/general/version.php"
VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_SM_VERSION_RE = re.compile(r"""define\(\s*["']SM_VERSION["']\s*,\s*["']([^"']+)["']""")
_SM_DATE_RE = re.compile(r"""define\(\s*["']SM_VERSION_DATE["']\s*,\s*["']([^"']+)["']""")
_MODULE_VERSION_RE = re.compile(r"""["']VERSION["']\s*=>\s*["']([^"']+)["']""")
_MODULE_DATE_RE = re.compile(r"""["']VERSION_DATE["']\s*=>\s*["']([^"']+)["']""")
_DEFINE_RE = re.compile(r"""define\(\s*["'](BX_[A-Z_]+)["']\s*,\s*([^)]+?)\s*\)""")
_MODULE_ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)?$")


class NotABitrixSite(Exception):
    """The docroot has no Bitrix core."""


def version_tuple(version: str) -> tuple[int, int, int]:
    """'23.900.550' -> (23, 900, 550); raises ValueError for anything else."""
    match = VERSION_RE.search(version or "")
    if not match:
        raise ValueError("not a Bitrix version: %r" % (version,))
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def require_site(docroot: str) -> None:
    """Raise NotABitrixSite with a clear reason unless docroot holds a Bitrix core."""
    if not os.path.isdir(docroot):
        raise NotABitrixSite("%s does not exist or is not a directory" % docroot)
    if not os.path.isfile(os.path.join(docroot, CORE_VERSION_FILE)):
        raise NotABitrixSite(
            "%s is not a 1C-Bitrix site: %s is missing" % (docroot, CORE_VERSION_FILE)
        )


def read_core_version(docroot: str) -> dict[str, str | None]:
    """The core ("main") version and date from version.php."""
    require_site(docroot)
    text = _read_text(os.path.join(docroot, CORE_VERSION_FILE))
    version = _SM_VERSION_RE.search(text)
    date = _SM_DATE_RE.search(text)
    if not version:
        raise NotABitrixSite("SM_VERSION is not defined in %s" % CORE_VERSION_FILE)
    return {"version": version.group(1), "date": date.group(1) if date else None}


def read_module_version(path: str) -> dict[str, str | None]:
    """A module's install/version.php: VERSION and VERSION_DATE, whatever the quoting style."""
    text = _read_text(path)
    version = _MODULE_VERSION_RE.search(text)
    date = _MODULE_DATE_RE.search(text)
    return {
        "version": version.group(1) if version else None,
        "date": date.group(1) if date else None,
    }


def find_modules(docroot: str) -> dict[str, dict[str, object]]:
    """Every module folder on disk, `local/modules` winning over `bitrix/modules`.

    `main` has no install/version.php: its version is the core's.
    """
    found: dict[str, dict[str, object]] = {}
    for location in ("bitrix", "local"):
        base = os.path.join(docroot, location, "modules")
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            module_dir = os.path.join(base, name)
            if not os.path.isdir(module_dir) or not _MODULE_ID_RE.match(name):
                continue
            if name == "main":
                info = read_core_version(docroot)
                rel = CORE_VERSION_FILE
            else:
                version_file = os.path.join(module_dir, "install", "version.php")
                if not os.path.isfile(version_file):
                    continue
                info = read_module_version(version_file)
                rel = os.path.relpath(version_file, docroot)
            found[name] = {
                "version": info["version"],
                "date": info["date"],
                "path": rel,
                "location": location,
                "marketplace": "." in name,
            }
    return found


def read_dbconn_constants(docroot: str) -> dict[str, str]:
    """BX_* constants from dbconn.php (`local/php_interface` wins), as written."""
    constants: dict[str, str] = {}
    for rel in ("bitrix/php_interface/dbconn.php", "local/php_interface/dbconn.php"):
        path = os.path.join(docroot, rel)
        if os.path.isfile(path):
            for name, value in _DEFINE_RE.findall(_read_text(path)):
                constants[name] = value.strip().strip("\"'")
    return constants


def permission_defaults(docroot: str) -> tuple[int, int]:
    """(file_mode, dir_mode) the site asks for; the core's defaults 0644/0755 when unset."""
    constants = read_dbconn_constants(docroot)

    def as_mode(raw: str | None, default: int) -> int:
        if raw is None:
            return default
        try:
            return int(raw, 8) if not raw.lower().startswith("0x") else int(raw, 16)
        except ValueError:
            return default

    return (
        as_mode(constants.get("BX_FILE_PERMISSIONS"), 0o644),
        as_mode(constants.get("BX_DIR_PERMISSIONS"), 0o755),
    )


def read_settings(docroot: str, php: str = "php") -> dict[str, object]:
    """The kernel settings array (.settings.php merged with .settings_extra.php), via PHP itself.

    PHP parses its own array syntax exactly; `-n` keeps site php.ini settings out of it.
    """
    script = (
        "$r = include $argv[1]; if (!is_array($r)) { $r = array(); }"
        "if (is_file($argv[2])) { $x = include $argv[2]; if (is_array($x)) { $r = array_replace_recursive($r, $x); } }"
        "echo json_encode($r);"
    )
    settings_path = os.path.join(docroot, "bitrix", ".settings.php")
    extra_path = os.path.join(docroot, "bitrix", ".settings_extra.php")
    if not os.path.isfile(settings_path):
        return {}
    # PHP 7.4 packages json as an extension that -n leaves out: retry with it loaded.
    for extra in ([], ["-d", "extension=json"]):
        proc = subprocess.run(
            [php, "-n", *extra, "-r", script, settings_path, extra_path],
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            break
    if proc.returncode != 0:
        raise RuntimeError("cannot read bitrix/.settings.php with %s (exit %d)" % (php, proc.returncode))
    data = json.loads(proc.stdout.decode("utf-8") or "{}")
    return data if isinstance(data, dict) else {}


def _setting_value(settings: dict[str, object], name: str) -> object:
    entry = settings.get(name)
    if isinstance(entry, dict) and "value" in entry:
        return entry["value"]
    return entry


@dataclass
class DbCredentials:
    host: str
    database: str
    user: str
    password: str = ""

    def masked(self) -> dict[str, str]:
        return {"host": self.host, "database": self.database, "user": self.user}


_DBCONN_VAR_RE = re.compile(
    r"""\$DB(Host|Login|Password|Name)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*;"""
)


def read_dbconn_credentials(docroot: str) -> dict[str, str]:
    """The legacy `$DBHost/$DBLogin/$DBPassword/$DBName` of dbconn.php (`local/php_interface` wins), where
    cores before 20.900 keep the DB connection (later ones: .settings.php `connections`)."""
    found: dict[str, str] = {}
    for rel in ("bitrix/php_interface/dbconn.php", "local/php_interface/dbconn.php"):
        path = os.path.join(docroot, rel)
        if not os.path.isfile(path):
            continue
        for name, double, single in _DBCONN_VAR_RE.findall(_read_text(path)):
            if double or not single:
                value = re.sub(r"\\(.)", lambda m: m.group(1), double)
            else:
                value = single.replace("\\'", "'").replace("\\\\", "\\")
            found[{"Host": "host", "Login": "login", "Password": "password", "Name": "database"}[name]] = value
    return found


def db_credentials(docroot: str, override: dict[str, str] | None = None) -> DbCredentials:
    """DB credentials from the caller (vault), else .settings.php's default connection, else the legacy
    variables of dbconn.php; values the caller gives win over the site's."""
    override = {k: v for k, v in (override or {}).items() if v}
    if {"database", "user"} <= set(override):
        return DbCredentials(
            host=override.get("host", "localhost"),
            database=override["database"],
            user=override["user"],
            password=override.get("password", ""),
        )
    connections = _setting_value(read_settings(docroot), "connections")
    default = connections.get("default") if isinstance(connections, dict) else None
    if not isinstance(default, dict) or not default.get("database"):
        default = read_dbconn_credentials(docroot)
    if not default.get("database"):
        raise RuntimeError(
            "no DB credentials: neither bitrix/.settings.php (connections.default) nor dbconn.php ($DBName) "
            "has them, and none were given"
        )
    return DbCredentials(
        host=str(override.get("host") or default.get("host") or "localhost"),
        database=str(override.get("database") or default["database"]),
        user=str(override.get("user") or default.get("login") or ""),
        password=str(override.get("password") or default.get("password") or ""),
    )


_UNESCAPES = {"\\t": "\t", "\\n": "\n", "\\\\": "\\", "\\0": "\0"}
_UNESCAPE_RE = re.compile(r"\\[tn\\0]")


def _unescape(field: str) -> str | None:
    if field == "NULL":
        return None
    if "\\" not in field:
        return field
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group(0)], field)


def write_defaults_file(path: str, creds: DbCredentials) -> None:
    """A 0600 `[client]` option file with quoted values (passwords may hold # or quotes)."""

    def quote(value: str) -> str:
        return '"{}"'.format(value.replace("\\", "\\\\").replace('"', '\\"'))

    lines = ["[client]", f"user={quote(creds.user)}", f"password={quote(creds.password)}"]
    if creds.host and creds.host != "localhost":
        host, _, port = creds.host.partition(":")
        if host.startswith("/"):
            lines.append(f"socket={quote(host)}")
        else:
            lines.append(f"host={quote(host)}")
            if port:
                lines.append(f"port={port}")
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write("\n".join(lines) + "\n")


class MysqlClient:
    """Runs queries through the `mysql` client; the password goes in a 0600 defaults file."""

    def __init__(self, creds: DbCredentials, binary: str = "mysql") -> None:
        self.creds = creds
        self.binary = binary
        # mkstemp creates it 0600: the password never sits in a readable file.
        fd, self.defaults_file = tempfile.mkstemp(prefix="bxops-my-", suffix=".cnf")
        os.close(fd)
        write_defaults_file(self.defaults_file, creds)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.defaults_file)

    def __enter__(self) -> MysqlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _argv(self, query: str) -> list[str]:
        return [
            self.binary,
            "--defaults-extra-file=%s" % self.defaults_file,
            "--batch",
            "--skip-column-names",
            "--quick",
            "--default-character-set=utf8mb4",
            "--database=%s" % self.creds.database,
            "--execute=%s" % query,
        ]

    def stream(self, query: str) -> Iterator[list[str | None]]:
        """Yield rows one by one, never holding the result set in memory."""
        proc = subprocess.Popen(
            self._argv(query), stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1 << 20
        )
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="surrogateescape").rstrip("\n")
                yield [_unescape(field) for field in line.split("\t")]
        finally:
            proc.stdout.close()
            stderr = proc.stderr.read().decode("utf-8", errors="replace") if proc.stderr else ""
            if proc.wait() != 0:
                raise RuntimeError("mysql query failed: %s" % stderr.strip().splitlines()[-1:])

    def rows(self, query: str) -> list[list[str | None]]:
        return list(self.stream(query))

    def scalar(self, query: str) -> str | None:
        for row in self.stream(query):
            return row[0]
        return None


def option_value(client: MysqlClient, module: str, name: str, default: str = "") -> str:
    """A b_option value (site-independent row)."""
    value = client.scalar(
        "SELECT VALUE FROM b_option WHERE MODULE_ID='%s' AND NAME='%s' LIMIT 1"
        % (module.replace("'", ""), name.replace("'", ""))
    )
    return value if value not in (None, "") else default
