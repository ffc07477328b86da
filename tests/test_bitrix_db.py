"""The collection's one DB client (module_utils/bitrix_db.py), run against stand-in `mysql`/`mysqldump` tools.

The stand-ins are small shell scripts that record their command line and the option file they were given and
print what the real tools print in `--batch` mode (escaped fields, NULL), so what is checked is the client's
side of the contract: the command lines, the one defaults file, the unescaping, the errors.
"""

from __future__ import annotations

import ast
import gzip
import os
import re
import stat
from pathlib import Path

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_db, bitrix_orphans, bitrix_site

PROJECT = Path(__file__).resolve().parents[1]

# What `mysql --batch --skip-column-names` prints for the rows ("a\tb", NULL), ("x\\y\nz", "é"), bytes 0xff:
# a tab, a newline and a backslash inside a field are written as \t, \n and \\; NULL as the word NULL.
BATCH_OUTPUT = b"a\\tb\tNULL\nx\\\\y\\nz\t\xc3\xa9\n\xff\t0\n"


def fake_tool(tmp_path: Path, name: str, body: str) -> str:
    """A stand-in client tool that records argv (one per line) and its option file, then runs `body`."""
    path = tmp_path / name
    path.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/{name}.argv"\n'
        f'cat "${{1#--defaults-extra-file=}}" > "{tmp_path}/{name}.cnf"\n'
        + body
    )
    path.chmod(0o755)
    return str(path)


@pytest.fixture()
def creds() -> bitrix_db.DbCredentials:
    return bitrix_db.DbCredentials(host="db.internal:3307", database="site db", user="u", password='p#"w')


def test_queries_run_with_one_defaults_file_and_come_back_unescaped(tmp_path: Path, creds) -> None:
    (tmp_path / "out").write_bytes(BATCH_OUTPUT)
    binary = fake_tool(tmp_path, "mysql", f'cat "{tmp_path}/out"\n')
    with bitrix_db.MysqlClient(creds, binary=binary) as client:
        rows = client.rows("SELECT 1")
        defaults_file = client.defaults_file
        assert os.stat(defaults_file).st_mode & 0o777 == 0o600
        assert list(client.stream_bytes("SELECT 1")) == [
            [b"a\tb", None], [b"x\\y\nz", "é".encode()], [b"\xff", b"0"]]
        assert client.scalar("SELECT 1") == "a\tb"
    assert rows == [["a\tb", None], ["x\\y\nz", "é"], ["\udcff", "0"]]
    assert not os.path.exists(defaults_file)  # closed: the password file is gone
    argv = (tmp_path / "mysql.argv").read_text().splitlines()
    assert argv == [f"--defaults-extra-file={defaults_file}", "--batch", "--skip-column-names", "--quick",
                    "--default-character-set=utf8mb4", "--database=site db", "--execute=SELECT 1"]
    assert (tmp_path / "mysql.cnf").read_text() == (
        '[client]\nuser="u"\npassword="p#\\"w"\nhost="db.internal"\nport=3307\n')
    assert not any("p#" in arg for arg in argv)


def test_a_failed_query_raises_its_last_line(tmp_path: Path, creds) -> None:
    binary = fake_tool(tmp_path, "mysql", 'echo "first" >&2\necho "ERROR 1045 (28000): Access denied" >&2\nexit 1\n')
    with bitrix_db.MysqlClient(creds, binary=binary) as client, \
            pytest.raises(bitrix_db.DbError, match=r"^mysql query failed: ERROR 1045 \(28000\): Access denied$"):
        client.rows("SELECT 1")
    assert issubclass(bitrix_db.DbError, RuntimeError)  # callers that catch RuntimeError keep reporting it


def test_dump_and_load_use_the_same_defaults_file(tmp_path: Path, creds) -> None:
    dump = fake_tool(tmp_path, "mysqldump", 'echo "CREATE TABLE t (x int);"\n')
    load = fake_tool(tmp_path, "mysql", f'cat > "{tmp_path}/loaded"\n')
    target = tmp_path / "db.sql.gz"
    with bitrix_db.MysqlClient(creds, binary=load, dump_binary=dump) as client:
        client.dump(str(target), ["gzip", "-1"])
        client.load(str(target), ["gzip", "-dc"])
        with pytest.raises(FileExistsError):  # never over an existing file (or a planted symlink)
            client.dump(str(target), ["gzip", "-1"])
        defaults = f"--defaults-extra-file={client.defaults_file}"
    assert gzip.decompress(target.read_bytes()) == b"CREATE TABLE t (x int);\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert (tmp_path / "loaded").read_bytes() == b"CREATE TABLE t (x int);\n"
    assert (tmp_path / "mysqldump.argv").read_text().splitlines() == [
        defaults, "--single-transaction", "--routines", "--triggers", "--quick", "--hex-blob", "--no-tablespaces",
        "--add-drop-table", "--default-character-set=utf8mb4", "site db"]
    assert (tmp_path / "mysql.argv").read_text().splitlines() == [
        defaults, "--default-character-set=utf8mb4", "--binary-mode", "--database=site db"]
    assert (tmp_path / "mysqldump.cnf").read_text() == (tmp_path / "mysql.cnf").read_text()


def test_a_failed_dump_says_which_tool_failed(tmp_path: Path, creds) -> None:
    dump = fake_tool(tmp_path, "mysqldump", 'echo "mysqldump: Got error: 1044" >&2\nexit 2\n')
    with bitrix_db.MysqlClient(creds, dump_binary=dump) as client, \
            pytest.raises(bitrix_db.DbError, match=r"^mysqldump failed \(exit 2\): mysqldump: Got error: 1044$"):
        client.dump(str(tmp_path / "d.gz"), ["gzip", "-1"])


def test_the_orphan_finder_reads_bytes_through_the_client(tmp_path: Path, creds) -> None:
    # a file name with a backslash and a non-UTF-8 byte, as b_option/b_file rows print them
    (tmp_path / "out").write_bytes(b"iblock/a\\\\b\xff.jpg\nNULL\n")
    binary = fake_tool(tmp_path, "mysql", f'cat "{tmp_path}/out"\n')
    with bitrix_db.MysqlClient(creds, binary=binary) as client:
        assert list(bitrix_orphans.MysqlSource(client).content("b_t", "C")) == [b"iblock/a\\b\xff.jpg"]
    failing = fake_tool(tmp_path, "mysql2", 'echo "ERROR 1146: no table" >&2\nexit 1\n')
    with bitrix_db.MysqlClient(creds, binary=failing) as client, \
            pytest.raises(bitrix_orphans.OrphansError, match="ERROR 1146: no table"):
        list(bitrix_orphans.MysqlSource(client).content("b_t", "C"))


def test_the_db_option_has_one_shape() -> None:
    spec = {"db": bitrix_db.DB_OPTION}
    ok = ArgumentSpecValidator(spec).validate({"db": {"database": "d", "user": "u", "password": "p"}})
    assert ok.error_messages == []
    assert ok.validated_parameters["db"] == {"host": "", "database": "d", "user": "u", "password": "p"}
    # only the password is masked: a DB name or user like "bitrix" must not mask /home/bitrix/www in results
    assert ok._no_log_values == {"p"}
    wrong = ArgumentSpecValidator(spec).validate({"db": {"db_name": "d"}})  # the old backup spelling
    assert any("db_name" in message for message in wrong.error_messages)


MODULES_WITH_DB = {"bitrix_audit", "bitrix_backup", "bitrix_cleanup", "bitrix_orphans", "bitrix_site_info",
                   "bitrix_updates", "bitrix_updates_info", "bitrix_site_stopped"}


@pytest.mark.parametrize("path", sorted((PROJECT / "plugins" / "modules").glob("*.py")), ids=lambda p: p.stem)
def test_modules_take_db_credentials_in_one_shape(path: Path) -> None:
    source = path.read_text()
    # no module builds a client command line of its own or takes credentials another way
    assert not re.search(r"--defaults-(extra-)?file|db_credentials=dict|db_(host|name|user|password)=dict", source)
    uses_db = "db_credentials(" in source
    assert uses_db == (path.stem in MODULES_WITH_DB)
    if uses_db:
        assert "db=DB_OPTION" in source and "- bxops.bitrix.bitrix_db" in source
        tree = ast.parse(source)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "db_credentials"]
        assert all(len(call.args) == 2 for call in calls), "every credentials lookup gets the module's db option"


def test_bitrix_site_keeps_the_names_callers_import() -> None:
    for name in ("DbCredentials", "MysqlClient", "SiteConfigError", "write_defaults_file", "sql_string",
                 "option_file_quote"):
        assert getattr(bitrix_site, name) is getattr(bitrix_db, name)
