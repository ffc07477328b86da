"""Reading what a Bitrix site says about itself, in the shapes real releases write."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize("text", CORE_STYLES)
def test_core_version_in_every_release_style(tmp_path: Path, text: str) -> None:
    write(tmp_path, bitrix_site.CORE_VERSION_FILE, text)
    info = bitrix_site.read_core_version(str(tmp_path))
    assert bitrix_site.VERSION_RE.fullmatch(info["version"] or "")
    assert info["date"] and info["date"][:2] == "20"


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
