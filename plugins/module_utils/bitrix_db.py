# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one MariaDB/MySQL client of the collection's modules.

Every module that talks to a site's database goes through `MysqlClient`: the `mysql` and `mysqldump`
command lines are built here only, the password only ever sits in the 0600 `[client]` option file written
by `write_defaults_file` (which refuses control characters, so a hostile value cannot add option lines),
and the `--batch` output's escaping (`\\t`, `\\n`, `\\\\`, `\\0`) is undone here only.

Credentials come in one shape, the `db` dict {host, database, user, password} every module takes as its
`db` option (`DB_OPTION` is its argument spec, the `bxops.bitrix.bitrix_db` doc fragment its documentation);
`bitrix_site.db_credentials` fills what the dict leaves empty from the site's own settings.
Stdlib only: this runs on the managed host.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
VAULT_HINT = "put the DB credentials in the vault (bitrix_db_name, bitrix_db_user, bitrix_db_password)"
DB_FIELDS = ("host", "database", "user", "password")

# The `db` option of every module that reads the site's database: one shape, checked by Ansible. Only the
# password is no_log: Ansible masks a no_log value wherever it appears in the result, and a DB name or user
# such as "bitrix" would mask every path under /home/bitrix/www.
DB_OPTION: dict[str, Any] = dict(
    type="dict",
    default={},
    options=dict(
        host=dict(type="str", default=""),
        database=dict(type="str", default=""),
        user=dict(type="str", default=""),
        password=dict(type="str", default="", no_log=True),
    ),
)

MYSQL_ARGS = ["--batch", "--skip-column-names", "--quick", "--default-character-set=utf8mb4"]
MYSQLDUMP_ARGS = [
    "--single-transaction",
    "--routines",
    "--triggers",
    "--quick",
    "--hex-blob",
    "--no-tablespaces",
    "--add-drop-table",
    "--default-character-set=utf8mb4",
]


class SiteConfigError(RuntimeError):
    """What the site (or the vault) says cannot be used safely (a value that is code, a control character…)."""


class DbError(RuntimeError):
    """A run of `mysql`/`mysqldump` (or the (de)compressor next to it) failed; the message is its last line."""


@dataclass
class DbCredentials:
    host: str
    database: str
    user: str
    password: str = ""

    def masked(self) -> dict[str, str]:
        return {"host": self.host, "database": self.database, "user": self.user}

    def validate(self, sources: dict[str, str] | None = None) -> None:
        """Refuse a value that would break out of its line in an option file or argv: SiteConfigError naming
        the field and where it came from, never the value."""
        for name in DB_FIELDS:
            value = getattr(self, name)
            source = (sources or {}).get(name, "")
            where = " (from %s)" % source if source else ""
            if not isinstance(value, str):
                raise SiteConfigError("the DB %s%s is not a string" % (name, where))
            if CONTROL_RE.search(value):
                raise SiteConfigError(
                    "the DB %s%s holds a control character (newline, tab, NUL...): refused, as it could add lines "
                    "to the mysql client's option file; fix it there or %s" % (name, where, VAULT_HINT))
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise SiteConfigError(
                    "the DB %s%s is not valid UTF-8: refused; %s" % (name, where, VAULT_HINT)) from None
        port = self.host.partition(":")[2]
        if port and not port.isdigit():
            raise SiteConfigError("the DB host%s has a port that is not a number: refused"
                                  % (" (from %s)" % (sources or {}).get("host", "") if sources else ""))


def given(db: dict[str, Any] | None) -> dict[str, str]:
    """The non-empty values of a `db` dict (None and "" mean: read it from the site)."""
    return {key: value for key, value in (db or {}).items() if key in DB_FIELDS and value}


_UNESCAPES = {"\\t": "\t", "\\n": "\n", "\\\\": "\\", "\\0": "\0"}
_UNESCAPE_RE = re.compile(r"\\[tn\\0]")
_UNESCAPES_B = {k.encode(): v.encode() for k, v in _UNESCAPES.items()}
_UNESCAPE_RE_B = re.compile(rb"\\[tn\\0]")


def unescape(field: str) -> str | None:
    """One field of `mysql --batch` output as text: NULL is None, the client's escapes undone."""
    if field == "NULL":
        return None
    if "\\" not in field:
        return field
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group(0)], field)


def unescape_bytes(field: bytes) -> bytes | None:
    """One field of `mysql --batch` output as bytes (names on disk are bytes): NULL is None."""
    if field == b"NULL":
        return None
    if b"\\" not in field:
        return field
    return _UNESCAPE_RE_B.sub(lambda m: _UNESCAPES_B[m.group(0)], field)


def option_file_quote(value: str) -> str:
    """A value for a MariaDB/MySQL option file: in double quotes, with `\\` and `"` escaped (the client's
    option reader strips the quotes, so `#`, `'`, `=` and spaces are kept as they are, and turns `\\\\` and
    `\\"` back). Control characters cannot be written safely on one line and are refused."""
    if CONTROL_RE.search(value):
        raise SiteConfigError("a value with a control character cannot go into an option file")
    return '"{}"'.format(value.replace("\\", "\\\\").replace('"', '\\"'))


def write_defaults_file(path: str, creds: DbCredentials) -> None:
    """A 0600 `[client]` option file with quoted values (passwords may hold # or quotes); values with
    control characters (which would start a new option line) are refused before anything is written."""
    creds.validate()
    lines = ["[client]", f"user={option_file_quote(creds.user)}", f"password={option_file_quote(creds.password)}"]
    if creds.host and creds.host != "localhost":
        host, _, port = creds.host.partition(":")
        if host.startswith("/"):
            lines.append(f"socket={option_file_quote(host)}")
        else:
            lines.append(f"host={option_file_quote(host)}")
            if port:
                lines.append(f"port={int(port)}")
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write("\n".join(lines) + "\n")


def sql_string(value: str) -> str:
    """A MariaDB string literal for a value bxops puts into a query: `'` doubled and `\\` escaped, which is
    safe with and without NO_BACKSLASH_ESCAPES; control characters refused."""
    if CONTROL_RE.search(value):
        raise ValueError("refusing a query value with a control character: %r" % value)
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "''")


def sql_ident(name: str) -> str:
    """A backquoted identifier (table or column name)."""
    return "`%s`" % name.replace("`", "``")


def last_line(text: bytes) -> str:
    """The last non-blank line of a tool's stderr (what it says went wrong)."""
    lines = [line for line in text.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


class MysqlClient:
    """The site's database through the `mysql` and `mysqldump` client tools.

    The password only ever sits in a 0600 defaults file (removed by close()); queries run with `--batch
    --quick`, so results stream row by row and are never held in memory unless the caller asks (rows()).
    Failures raise DbError with the tool's last line of stderr.
    """

    def __init__(self, creds: DbCredentials, binary: str = "mysql", dump_binary: str = "mysqldump") -> None:
        self.creds = creds
        self.binary = binary
        self.dump_binary = dump_binary
        # mkstemp creates it 0600: the password never sits in a readable file.
        fd, self.defaults_file = tempfile.mkstemp(prefix="bxops-my-", suffix=".cnf")
        os.close(fd)
        try:
            write_defaults_file(self.defaults_file, creds)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.defaults_file)

    def __enter__(self) -> MysqlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- command lines

    def argv(self, binary: str) -> list[str]:
        """A client tool's command line up to its credentials (the defaults file must come first)."""
        return [binary, f"--defaults-extra-file={self.defaults_file}"]

    def query_argv(self, query: str, raw: bool = False) -> list[str]:
        return [*self.argv(self.binary), *MYSQL_ARGS, f"--database={self.creds.database}",
                *(["--raw"] if raw else []), f"--execute={query}"]

    # --- queries

    def popen(self, query: str, raw: bool = False) -> subprocess.Popen[bytes]:
        """The running query, its stdout a pipe (for callers that feed it on, e.g. into `sort`); read it
        with lines()."""
        return subprocess.Popen(self.query_argv(query, raw), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                bufsize=1 << 20)

    @staticmethod
    def lines(proc: subprocess.Popen[bytes]) -> Iterator[bytes]:
        """The output lines of a started process (newline removed, nothing unescaped); DbError when it exits
        non-zero."""
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                yield raw[:-1] if raw.endswith(b"\n") else raw
        finally:
            proc.stdout.close()
            err = proc.stderr.read() if proc.stderr else b""
            if proc.stderr:
                proc.stderr.close()
            if proc.wait() != 0:
                raise DbError("mysql query failed: %s" % last_line(err))

    def stream_bytes(self, query: str) -> Iterator[list[bytes | None]]:
        """Rows one by one as bytes fields (NULL is None), never holding the result set in memory."""
        for line in self.lines(self.popen(query)):
            yield [unescape_bytes(field) for field in line.split(b"\t")]

    def stream(self, query: str) -> Iterator[list[str | None]]:
        """Rows one by one as text fields (NULL is None; undecodable bytes kept as surrogates)."""
        for line in self.lines(self.popen(query)):
            text = line.decode("utf-8", errors="surrogateescape")
            yield [unescape(field) for field in text.split("\t")]

    def rows(self, query: str) -> list[list[str | None]]:
        return list(self.stream(query))

    def scalar(self, query: str) -> str | None:
        for row in self.stream(query):
            return row[0]
        return None

    def execute(self, sql: str) -> None:
        for _row in self.stream(sql):
            pass

    # --- whole database

    def dump(self, target: str, compress_argv: list[str], args: list[str] | None = None) -> None:
        """`mysqldump` of the database through `compress_argv` into a new 0600 file `target` (never an
        existing one)."""
        argv = [*self.argv(self.dump_binary), *(MYSQLDUMP_ARGS if args is None else args), self.creds.database]
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as out:
            dump = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            comp = subprocess.Popen(compress_argv, stdin=dump.stdout, stdout=out, stderr=subprocess.PIPE)
            assert dump.stdout is not None
            dump.stdout.close()
            dump_err = dump.stderr.read() if dump.stderr else b""
            dump_rc = dump.wait()
            comp_err = comp.stderr.read() if comp.stderr else b""
            comp_rc = comp.wait()
        if dump_rc != 0:
            raise DbError(f"mysqldump failed (exit {dump_rc}): {last_line(dump_err)}")
        if comp_rc != 0:
            raise DbError(f"compressing the dump failed: {last_line(comp_err)}")

    def load(self, source: str, decompress_argv: list[str]) -> None:
        """Feed a dump (through `decompress_argv`) to `mysql --binary-mode` into the database."""
        argv = [*self.argv(self.binary), "--default-character-set=utf8mb4", "--binary-mode",
                f"--database={self.creds.database}"]
        with open(source, "rb") as src:
            dec = subprocess.Popen(decompress_argv, stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            load = subprocess.Popen(argv, stdin=dec.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert dec.stdout is not None
            dec.stdout.close()
            _out, err = load.communicate()
            dec_err = dec.stderr.read() if dec.stderr else b""
            dec_rc = dec.wait()
        if dec_rc != 0:
            raise DbError(f"decompressing the dump failed: {last_line(dec_err)}")
        if load.returncode != 0:
            raise DbError(f"loading the dump failed: {last_line(err)}")
