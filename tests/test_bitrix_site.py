"""Reading what a Bitrix site says about itself, in the shapes real releases write."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_site

CORE_STYLES = [
    '<?define("SM_VERSION","20.5.462");\ndefine("SM_VERSION_DATE","2021-03-02 12:00:00");?>',
    "<?php\ndefine('SM_VERSION', '23.900.550');\ndefine('SM_VERSION_DATE', '2024-02-01 10:00:00');\n",
    '<?\ndefine( "SM_VERSION" , "26.250.100" ) ;\ndefine( "SM_VERSION_DATE" , "2026-04-13 16:22:23" );\n',
]


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_bytes(root: Path, rel: str, data: bytes) -> None:
    """As the release wrote it: line endings (CRLF) kept."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# Version files in the shapes real releases write, by hand, with the values PHP sets when it runs them
# (checked with php once; tests/fixtures/version_files/expected.json): the parser must read exactly those.
VERSION_FILES = Path(__file__).resolve().parent / "fixtures" / "version_files"
VERSION_FILE_VALUES = json.loads((VERSION_FILES / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(VERSION_FILE_VALUES["core"]))
def test_core_version_in_every_release_style(tmp_path: Path, name: str) -> None:
    write_bytes(tmp_path, bitrix_site.CORE_VERSION_FILE, (VERSION_FILES / name).read_bytes())
    assert bitrix_site.read_core_version(str(tmp_path)) == VERSION_FILE_VALUES["core"][name]


@pytest.mark.parametrize("name", sorted(VERSION_FILE_VALUES["module"]))
def test_module_version_in_every_release_style(tmp_path: Path, name: str) -> None:
    write_bytes(tmp_path, bitrix_site.CORE_VERSION_FILE, (VERSION_FILES / "core_short_tag.php").read_bytes())
    write_bytes(tmp_path, "bitrix/modules/iblock/install/version.php", (VERSION_FILES / name).read_bytes())
    expected = VERSION_FILE_VALUES["module"][name]
    module = bitrix_site.find_modules(str(tmp_path))["iblock"]
    assert (module["version"], module["date"]) == (expected["version"], expected["date"])
    assert bitrix_site.read_module_version(str(tmp_path / "bitrix/modules/iblock/install/version.php")) == expected


def test_a_folder_without_a_core_is_not_a_bitrix_site(tmp_path: Path) -> None:
    with pytest.raises(bitrix_site.NotABitrixSite, match="is not a 1C-Bitrix site"):
        bitrix_site.read_core_version(str(tmp_path))
    with pytest.raises(bitrix_site.NotABitrixSite, match="does not exist"):
        bitrix_site.require_site(str(tmp_path / "missing"))


def test_local_modules_win_and_dotted_ones_are_marketplace(tmp_path: Path) -> None:
    write(tmp_path, bitrix_site.CORE_VERSION_FILE, CORE_STYLES[1])
    write(tmp_path, "bitrix/modules/iblock/install/version.php",
          '<?\n$arModuleVersion = array(\n\t"VERSION" => "23.500.100",\n\t"VERSION_DATE" => "2023-10-01"\n);')
    write(tmp_path, "local/modules/iblock/install/version.php",
          "<?php\n$arModuleVersion = ['VERSION' => '23.500.200', 'VERSION_DATE' => '2023-11-01'];")
    write(tmp_path, "bitrix/modules/acme.delivery/install/version.php",
          "<?php $arModuleVersion = array('VERSION'=>'1.2.3','VERSION_DATE'=>'2022-01-01');")
    write(tmp_path, "bitrix/modules/broken/readme.txt", "no version file: not a module")
    modules = bitrix_site.find_modules(str(tmp_path))
    assert modules["main"]["version"] == "23.900.550"
    assert modules["iblock"]["version"] == "23.500.200"
    assert modules["iblock"]["location"] == "local"
    assert modules["acme.delivery"]["marketplace"] is True
    assert modules["iblock"]["marketplace"] is False
    assert "broken" not in modules


def test_versions_compare_numerically_per_part() -> None:
    assert bitrix_site.version_tuple("21.0.99") < bitrix_site.version_tuple("21.0.100")
    assert bitrix_site.version_tuple("20.5.462") < bitrix_site.version_tuple("20.100.0")
    with pytest.raises(ValueError):
        bitrix_site.version_tuple("latest")


def test_permission_constants_from_dbconn_and_defaults(tmp_path: Path) -> None:
    assert bitrix_site.permission_defaults(str(tmp_path)) == (0o644, 0o755)
    write(tmp_path, "bitrix/php_interface/dbconn.php",
          '<?\ndefine("BX_FILE_PERMISSIONS", 0664);\ndefine("BX_DIR_PERMISSIONS", 0775);\n'
          'define("BX_UTF", true);\n')
    assert bitrix_site.permission_defaults(str(tmp_path)) == (0o664, 0o775)
    write(tmp_path, "local/php_interface/dbconn.php", '<?php define("BX_FILE_PERMISSIONS", 0640);')
    assert bitrix_site.permission_defaults(str(tmp_path)) == (0o640, 0o775)
    assert bitrix_site.read_dbconn_constants(str(tmp_path))["BX_UTF"] == "true"


def test_mysql_batch_escapes_are_undone() -> None:
    assert bitrix_site._unescape("a\\tb\\nc\\\\d") == "a\tb\nc\\d"
    assert bitrix_site._unescape("NULL") is None
    assert bitrix_site._unescape("iblock/0a1") == "iblock/0a1"


def test_db_credentials_of_a_pre_20_900_core_come_from_dbconn(tmp_path: Path) -> None:
    """Before 20.900 the connection lives in dbconn.php's $DB* variables (no .settings.php connections)."""
    dbconn = tmp_path / "bitrix" / "php_interface" / "dbconn.php"
    dbconn.parent.mkdir(parents=True)
    dbconn.write_text(
        "<?\ndefine(\"DBPersistent\", false);\n$DBType = \"mysql\";\n$DBHost = \"localhost\";\n"
        "$DBLogin = 'bitrix0';\n$DBPassword = 'it\\'s \"secret\"';\n$DBName = \"sitemanager\";\n"
    )
    creds = bitrix_site.db_credentials(str(tmp_path))
    assert (creds.host, creds.database, creds.user, creds.password) == (
        "localhost", "sitemanager", "bitrix0", "it's \"secret\"")
    # the vault's values win; a site with nothing anywhere is refused with where it looked
    assert bitrix_site.db_credentials(str(tmp_path), {"password": "from-vault"}).password == "from-vault"
    dbconn.write_text("<?\n$DBType = \"mysql\";\n")
    with pytest.raises(RuntimeError, match=r"neither bitrix/\.settings\.php"):
        bitrix_site.db_credentials(str(tmp_path))


# --- the site's PHP is data: parsed, never run (issue 11.1, 11.2, 12.5) -------------------------------
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "site_config"
VAULT_VARIABLES = ("bitrix_db_name", "bitrix_db_user", "bitrix_db_password")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def site_with(root: Path, files: dict[str, str]) -> Path:
    """A docroot holding a core and the given files (relative path -> fixture name)."""
    docroot = root / "www"
    write(docroot, bitrix_site.CORE_VERSION_FILE, CORE_STYLES[1])
    for rel, name in files.items():
        write(docroot, rel, fixture(name))
    return docroot


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the site must not start any process (the old reader ran `php -r include` as root)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args[:1]!r}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(os, "system", refuse)


def test_installer_settings_are_read_with_php_quoting(tmp_path: Path, no_subprocess: None) -> None:
    docroot = site_with(tmp_path, {"bitrix/.settings.php": "settings_installer.php"})
    settings: Any = bitrix_site.read_settings(str(docroot))
    assert settings["utf_mode"] == {"value": True, "readonly": True}
    assert settings["exception_handling"]["value"]["log"] is None
    assert settings["exception_handling"]["value"]["handled_errors_types"] == 4437
    default = settings["connections"]["value"]["default"]
    assert default == {
        "className": "\\Bitrix\\Main\\DB\\MysqliConnection",
        "host": "localhost",
        "database": "sitemanager",
        "login": "bitrix0",
        "password": "x#Y'z\\w\"q",
        "options": 2,
    }
    creds = bitrix_site.db_credentials(str(docroot))
    assert (creds.host, creds.database, creds.user, creds.password) == (
        "localhost", "sitemanager", "bitrix0", "x#Y'z\\w\"q")
    assert bitrix_site.load_settings(str(docroot)).unparsed == []


def test_settings_extra_replaces_recursively(tmp_path: Path, no_subprocess: None) -> None:
    docroot = site_with(tmp_path, {"bitrix/.settings.php": "settings_installer.php",
                                   "bitrix/.settings_extra.php": "settings_extra_short.php"})
    settings: Any = bitrix_site.read_settings(str(docroot))
    # array_replace_recursive: the extra file's host replaces, every other key of the connection stays
    assert settings["connections"]["value"]["default"]["host"] == "db.internal:3307"
    assert settings["connections"]["value"]["default"]["database"] == "sitemanager"
    assert settings["connections"]["readonly"] is True
    assert settings["cache_flags"] == {"value": {"config_options": 3600, "site_domain": 0}, "readonly": False}
    assert settings["cache"] == {"value": {"type": "memcache", "sid": "site1",
                                           "memcache": {"host": "unix:///run/memcached/memcached.sock", "port": 0}}}
    creds = bitrix_site.db_credentials(str(docroot), {"password": "from-vault"})
    assert (creds.host, creds.user, creds.password) == ("db.internal:3307", "bitrix0", "from-vault")


def test_hostile_settings_are_never_executed(tmp_path: Path, no_subprocess: None) -> None:
    docroot = site_with(tmp_path, {"bitrix/.settings.php": "settings_hostile.php"})
    creds = bitrix_site.db_credentials(str(docroot))  # the old reader ran `php -r include` here, as root
    assert creds.password == "plain-secret"  # the literal connection is still read
    loaded = bitrix_site.load_settings(str(docroot))
    # nothing the file asks PHP to do happened: no canary, anywhere it could have been written
    canaries = [p for p in tmp_path.rglob("*") if "canary" in p.name]
    assert canaries == []
    assert loaded.values["kept"] == "still read"
    assert loaded.values["pwned"] == {"value": None}
    assert sorted(loaded.unparsed) == sorted(
        ["pwned.value", "backtick", "written", "system", "path", "constant", "interpolated", "sum"])


def test_computed_db_password_asks_for_the_vault(tmp_path: Path, no_subprocess: None) -> None:
    docroot = site_with(tmp_path, {"bitrix/.settings.php": "settings_computed_password.php"})
    with pytest.raises(RuntimeError) as caught:
        bitrix_site.db_credentials(str(docroot))
    message = str(caught.value)
    assert "connections.default.password" in message
    assert all(name in message for name in VAULT_VARIABLES)
    assert "SHOP_DB_PASSWORD" not in message
    # with the password in the vault the rest still comes from the site
    creds = bitrix_site.db_credentials(str(docroot), {"password": "vault-pw"})
    assert (creds.database, creds.user, creds.password) == ("shop", "shop", "vault-pw")
    # and with everything in the vault the site is not even asked
    creds = bitrix_site.db_credentials(str(docroot), {"database": "d", "user": "u", "password": "p"})
    assert (creds.database, creds.user, creds.password) == ("d", "u", "p")


def test_settings_computed_as_a_whole_ask_for_the_vault(tmp_path: Path, no_subprocess: None) -> None:
    docroot = site_with(tmp_path, {"bitrix/.settings.php": "settings_computed_whole.php",
                                   "bitrix/php_interface/dbconn.php": "dbconn_legacy.php"})
    # connections may be in what the code returns: dbconn.php's variables are not a safe guess
    with pytest.raises(RuntimeError, match="bitrix_db_name, bitrix_db_user, bitrix_db_password"):
        bitrix_site.db_credentials(str(docroot))
    assert bitrix_site.load_settings(str(docroot)).unparsed == ["bitrix/.settings.php: (what the file returns)"]


def test_symlinked_settings_are_refused_not_followed(tmp_path: Path) -> None:
    docroot = site_with(tmp_path, {})
    elsewhere = tmp_path / "elsewhere.php"
    elsewhere.write_text(fixture("settings_installer.php"))
    (docroot / "bitrix" / ".settings.php").symlink_to(elsewhere)
    with pytest.raises(RuntimeError, match=r"\.settings\.php.*symlink"):
        bitrix_site.db_credentials(str(docroot))
    # a symlinked folder on the way is refused the same way
    (docroot / "bitrix" / ".settings.php").unlink()
    real = tmp_path / "real_interface"
    real.mkdir()
    (real / "dbconn.php").write_text(fixture("dbconn_legacy.php"))
    (docroot / "bitrix" / "php_interface").symlink_to(real)
    with pytest.raises(RuntimeError, match=r"php_interface is a symlink"):
        bitrix_site.db_credentials(str(docroot))


def test_oversized_settings_are_refused(tmp_path: Path) -> None:
    docroot = site_with(tmp_path, {})
    write(docroot, "bitrix/.settings.php", "<?php return [" + "'x' => 1," * 200_000 + "];")
    with pytest.raises(RuntimeError, match="more than 1048576"):
        bitrix_site.read_settings(str(docroot))


def test_legacy_dbconn_skips_comments_and_takes_the_live_lines(tmp_path: Path, no_subprocess: None) -> None:
    docroot = site_with(tmp_path, {"bitrix/php_interface/dbconn.php": "dbconn_legacy.php"})
    creds = bitrix_site.db_credentials(str(docroot))
    assert (creds.host, creds.database, creds.user, creds.password) == (
        "localhost", "sitemanager", "bitrix0", "it's \"secret\" $5 \\ #1")
    constants = bitrix_site.read_dbconn_constants(str(docroot))
    assert "BX_CRONTAB_SUPPORT" not in constants  # commented out
    assert constants["BX_TEMPORARY_FILES_DIRECTORY"] == "/home/bitrix/.bx_temp/sitemanager/"
    assert bitrix_site.permission_defaults(str(docroot)) == (0o664, 0o775)


@pytest.mark.parametrize("name", ["dbconn_injection.php", "dbconn_injection_raw_newlines.php"])
def test_option_file_injection_through_dbconn_is_refused(tmp_path: Path, name: str) -> None:
    docroot = site_with(tmp_path, {"bitrix/php_interface/dbconn.php": name})
    with pytest.raises(RuntimeError) as caught:
        bitrix_site.db_credentials(str(docroot))
    message = str(caught.value)
    assert "DB password" in message and "control character" in message
    assert "plugin-dir" not in message and "evil" not in message  # the value is never shown
    # and the option file writer refuses it too, writing nothing
    target = tmp_path / "my.cnf"
    creds = bitrix_site.DbCredentials("localhost", "db", "user", "x\nplugin-dir=/tmp\ndefault-auth=evil")
    with pytest.raises(RuntimeError, match="password"):
        bitrix_site.write_defaults_file(str(target), creds)
    assert not target.exists()


@pytest.mark.parametrize("field", ["host", "database", "user", "password"])
@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\t", "\x1b", "\x7f"])
def test_every_credential_field_refuses_control_characters(tmp_path: Path, field: str, char: str) -> None:
    values = {"host": "localhost", "database": "db", "user": "user", "password": "pw"}
    values[field] = "a" + char + "b"
    with pytest.raises(RuntimeError, match=f"DB {field}"):
        bitrix_site.write_defaults_file(str(tmp_path / "my.cnf"), bitrix_site.DbCredentials(**values))


def test_option_file_quotes_what_mariadb_unquotes(tmp_path: Path) -> None:
    target = tmp_path / "my.cnf"
    bitrix_site.write_defaults_file(
        str(target), bitrix_site.DbCredentials("db.internal:3307", "db", "o'neil", 'a"b\\c#d =e'))
    # MariaDB's option reader: value in double quotes, \" and \\ escaped, '#' inside quotes kept
    assert target.read_text() == (
        '[client]\nuser="o\'neil"\npassword="a\\"b\\\\c#d =e"\nhost="db.internal"\nport=3307\n')
    assert target.stat().st_mode & 0o777 == 0o600


def test_main_version_skips_commented_defines(tmp_path: Path) -> None:
    write(tmp_path, bitrix_site.CORE_VERSION_FILE, fixture("main_version_commented.php"))
    assert bitrix_site.read_core_version(str(tmp_path)) == {"version": "23.900.550", "date": "2024-02-01 10:00:00"}


def test_module_version_is_the_assignment_php_runs_last(tmp_path: Path) -> None:
    write(tmp_path, bitrix_site.CORE_VERSION_FILE, CORE_STYLES[0])
    write(tmp_path, "bitrix/modules/vote/install/version.php", fixture("module_version_commented.php"))
    write(tmp_path, "bitrix/modules/acme.shop/install/version.php", fixture("module_version_by_key.php"))
    modules = bitrix_site.find_modules(str(tmp_path))
    assert (modules["vote"]["version"], modules["vote"]["date"]) == ("21.0.100", "2022-01-20 12:00:00")
    assert (modules["acme.shop"]["version"], modules["acme.shop"]["date"]) == ("3.4.5", "2023-09-09 09:09:09")
    assert bitrix_site.read_module_version(str(tmp_path / "bitrix/modules/vote/install/version.php"))[
        "version"] == "21.0.100"


def test_symlinked_module_folders_are_named_not_followed(tmp_path: Path) -> None:
    write(tmp_path, bitrix_site.CORE_VERSION_FILE, CORE_STYLES[0])
    outside = tmp_path / "outside" / "iblock"
    write(outside, "install/version.php", "<?php $arModuleVersion = ['VERSION' => '9.9.9'];")
    (tmp_path / "bitrix" / "modules" / "iblock").symlink_to(outside)
    refused: list[str] = []
    modules = bitrix_site.find_modules(str(tmp_path), refused)
    assert "iblock" not in modules
    assert len(refused) == 1 and "bitrix/modules/iblock is a symlink" in refused[0]


def test_a_symlinked_core_version_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.php"
    real.write_text(CORE_STYLES[1])
    (tmp_path / "www" / "bitrix/modules/main/classes/general").mkdir(parents=True)
    (tmp_path / "www" / bitrix_site.CORE_VERSION_FILE).symlink_to(real)
    with pytest.raises(bitrix_site.NotABitrixSite, match="symlink"):
        bitrix_site.read_core_version(str(tmp_path / "www"))


@pytest.mark.parametrize(("php", "expected"), [
    # single quotes: only \' and \\ are escapes
    (r"'a\nb\'c\\d\x41'", "a\\nb'c\\d\\x41"),
    # double quotes: \n \t \$ \" \\, octal, hex, \u{}; unknown escapes keep the backslash
    (r'"a\nb\tc\$d\"e\\f\101\x42\u{44f}\q"', 'a\nb\tc$d"e\\fAB\u044f\\q'),
    ("TRUE", True), ("False", False), ("nULL", None),
    ("0x1F", 31), ("0755", 493), ("0b101", 5), ("1_000", 1000), ("-12", -12), ("1.5e3", 1500.0), (".5", 0.5),
    ("9223372036854775808", 9223372036854775808.0),
    ("[1, 'a' => [2,],]", {"0": 1, "a": [2]}),
    ("array('8' => 'x', '08' => 'y', true => 'z', null => 'n', 'k')", {"8": "x", "08": "y", "1": "z", "": "n",
                                                                       "9": "k"}),
    ("[3 => 'a', 'b', -1 => 'c', 'd']", {"3": "a", "4": "b", "-1": "c", "5": "d"}),
    ("['a' /* x */ => # y\n 'b' // z\n]", {"a": "b"}),
])
def test_php_literals(php: str, expected: object) -> None:
    value = bitrix_site.php_return_value(f"<?php return {php};".encode())
    assert bitrix_site._plain(value) == expected


@pytest.mark.parametrize("php", ["foo()", "FOO", "__DIR__", "$x", "'a' . 'b'", "\"x{$y}\"", "\"$y\"", "1 + 2",
                                 "(int) '1'", "new X()", "`id`", "<<<EOT\nx\nEOT", "-FOO", "fn() => 1"])
def test_anything_but_a_literal_is_unknown(php: str) -> None:
    value = bitrix_site.php_return_value(f"<?php return ['k' => {php}, 'after' => 1];".encode())
    assert bitrix_site._plain(value) == {"k": None, "after": 1}
    assert bitrix_site._unparsed_paths(value) == ["k"]


def test_text_outside_php_tags_and_bytes_are_kept_exactly() -> None:
    value = bitrix_site.php_return_value(b"<html>?> 'return [1];' <?php return ['k' => '\xd0\xaf \xff'] ?>tail")
    assert bitrix_site._plain(value) == {"k": "\u042f \udcff"}


@pytest.mark.parametrize(("raw", "expected"), [
    (None, "upload"), ("", "upload"), ("upload", "upload"), ("/upload/", "upload"), ("files", "files"),
    ("/data/up loads/", "data/up loads"), (".hidden", ".hidden"),
])
def test_upload_dir_from_the_option(raw: str | None, expected: str) -> None:
    assert bitrix_site.resolve_upload_dir(raw) == expected


@pytest.mark.parametrize("raw", ["..", "../etc", "upload/../../etc", "/", "//", "a//b", "./upload", "upload/.",
                                 "up\x00load", "up\nload", "up\tload", "\x7f"])
def test_upload_dir_outside_or_odd_is_refused(raw: str) -> None:
    with pytest.raises(bitrix_site.UnsafeUploadDir) as caught:
        bitrix_site.resolve_upload_dir(raw)
    assert repr(raw) in str(caught.value)
    assert isinstance(caught.value, RuntimeError)  # modules catching RuntimeError report it


class RecordingClient(bitrix_site.MysqlClient):
    """The MysqlClient with the query recorded instead of run (the SQL text is what is under test)."""

    def __init__(self, answer: str | None) -> None:  # no defaults file: nothing is run
        self.queries: list[str] = []
        self.answer = answer

    def stream(self, query: str) -> Iterator[list[str | None]]:
        self.queries.append(query)
        yield [self.answer]


def test_option_value_escapes_instead_of_stripping() -> None:
    client = RecordingClient("Y")
    assert bitrix_site.option_value(client, "main", "x' OR '1'='1") == "Y"
    assert client.queries == [
        "SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='x'' OR ''1''=''1' LIMIT 1"]
    client.queries.clear()
    bitrix_site.option_value(client, "ma\\in", "n")
    assert client.queries == ["SELECT VALUE FROM b_option WHERE MODULE_ID='ma\\\\in' AND NAME='n' LIMIT 1"]
    with pytest.raises(ValueError):
        bitrix_site.option_value(client, "main", "a\nb")


def test_upload_dir_reads_the_option_and_checks_it() -> None:
    assert bitrix_site.upload_dir(RecordingClient("/files/")) == "files"
    assert bitrix_site.upload_dir(RecordingClient(None)) == "upload"
    client = RecordingClient("../../etc")
    with pytest.raises(bitrix_site.UnsafeUploadDir, match=r"'\.\./\.\./etc'"):
        bitrix_site.upload_dir(client)
    assert client.queries == ["SELECT VALUE FROM b_option WHERE MODULE_ID='main' AND NAME='upload_dir' LIMIT 1"]


def test_a_site_file_php_could_not_parse_fails_with_one_line(tmp_path: Path) -> None:
    write(tmp_path, bitrix_site.CORE_VERSION_FILE, CORE_STYLES[1])
    write(tmp_path, "bitrix/php_interface/dbconn.php", '<?\n$DBPassword = "never closed;\n')
    for call in (bitrix_site.read_dbconn_constants, bitrix_site.db_credentials):
        with pytest.raises(bitrix_site.NotABitrixSite, match=r"dbconn\.php: unterminated string") as caught:
            call(str(tmp_path))
        assert isinstance(caught.value, RuntimeError)


def test_a_refused_client_leaves_no_option_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError, match="DB password"):
        bitrix_site.MysqlClient(bitrix_site.DbCredentials("localhost", "db", "u", "p\ndefault-auth=evil"))
    assert list(tmp_path.iterdir()) == []


def test_absurdly_nested_settings_fail_cleanly(tmp_path: Path) -> None:
    docroot = site_with(tmp_path, {})
    write(docroot, "bitrix/.settings.php", "<?php return " + "[" * 50_000 + "]" * 50_000 + ";")
    with pytest.raises(RuntimeError, match="nested more than 100 deep"):
        bitrix_site.db_credentials(str(docroot))
