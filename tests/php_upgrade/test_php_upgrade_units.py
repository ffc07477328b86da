"""Host-independent parts of the php_upgrade modules and filters (the token scan itself needs the target PHP
and runs in the molecule scenario)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.filter.php_upgrade import php_compat_summary, php_ini_merge
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import UnsafePath
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_php_compat as compat
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_php_facts as facts


def _write(root: Path, rel: str, text: str = "<?php\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_only_removals_between_current_and_target_count():
    assert compat.relevant("8.0", "7.4", "8.2")
    assert not compat.relevant("7.0", "7.4", "8.2")  # already gone on the current version
    assert not compat.relevant("8.4", "7.4", "8.2")  # not yet removed in the target
    assert compat.relevant("8.4", "8.2", "8.4")


def test_own_code_is_local_php_interface_templates_vendor_components_and_dotted_modules(tmp_path):
    for rel in ("local/a.php", "bitrix/php_interface/init.php", "bitrix/templates/t/header.php",
                "bitrix/components/bitrix/news.list/component.php", "bitrix/components/acme/x/component.php",
                "bitrix/modules/main/include.php", "bitrix/modules/acme.delivery/include.php", "index.php"):
        _write(tmp_path, rel)
    _write(tmp_path, ".user.ini", "mbstring.func_overload = 2\n")
    roots = compat.own_code_roots(str(tmp_path), [])
    assert roots == ["local", "bitrix/php_interface", "bitrix/templates", "bitrix/components/acme",
                     "bitrix/modules/acme.delivery"]
    found = {str(Path(p).relative_to(tmp_path)): php for p, php in compat.walk_files(str(tmp_path), roots)}
    assert found == {".user.ini": False, "local/a.php": True, "bitrix/php_interface/init.php": True,
                     "bitrix/templates/t/header.php": True, "bitrix/components/acme/x/component.php": True,
                     "bitrix/modules/acme.delivery/include.php": True}


def test_user_ini_with_a_removed_setting_is_a_finding(tmp_path):
    _write(tmp_path, ".user.ini", "; comment\nmemory_limit = 256M\nmbstring.func_overload = 2 ; old\n")
    settings = {k: v for k, v in compat.REMOVED_SETTINGS.items() if compat.relevant(v[0], "7.4", "8.2")}
    found = compat.scan_user_ini(str(tmp_path), str(tmp_path / ".user.ini"), settings)
    assert [(f["file"], f["line"], f["kind"]) for f in found] == [(".user.ini", 3, "ini")]


def test_polyfilled_calls_are_not_findings_but_autoload_is():
    funcs = {"each": compat.REMOVED_FUNCTIONS["each"], "__autoload": compat.REMOVED_FUNCTIONS["__autoload"]}
    assert compat.describe("call", "each", funcs, {}, {}, {}, ["each"], "8.2") is None
    assert compat.describe("call", "each", funcs, {}, {}, {}, [], "8.2")["what"] == "each()"
    assert compat.describe("declare", "each", funcs, {}, {}, {}, ["each"], "8.2") is None
    autoload = compat.describe("declare", "__autoload", funcs, {}, {}, {}, [], "8.2")
    assert "spl_autoload_register" in autoload["why"]
    prefixes = dict(compat.REMOVED_PREFIXES)
    orig = compat.describe("call", "mb_orig_strlen", {}, prefixes, {}, {}, [], "8.2")
    assert orig["what"] == "mb_orig_strlen()"


def test_ini_merge_site_wins_over_defaults_minimums_and_required_win_removed_dropped():
    overrides = [
        {"sapi": "fpm", "key": "memory_limit", "value": "512M"},
        {"sapi": "fpm", "key": "max_input_vars", "value": "20000"},
        {"sapi": "fpm", "key": "default_socket_timeout", "value": "30"},
        {"sapi": "fpm", "key": "mbstring.func_overload", "value": "2"},
        {"sapi": "fpm", "key": "opcache.revalidate_freq", "value": "60"},
        {"sapi": "cli", "key": "memory_limit", "value": "-1"},
    ]
    merged = php_ini_merge(overrides, "fpm", {"memory_limit": "256M", "short_open_tag": "On"},
                           {"max_input_vars": 10000, "default_socket_timeout": 60},
                           {"opcache.revalidate_freq": "0"}, ["mbstring.func_overload"])
    assert merged == {"memory_limit": "512M", "short_open_tag": "On", "max_input_vars": "20000",
                      "default_socket_timeout": "60", "opcache.revalidate_freq": "0"}
    assert php_compat_summary([{"file": "a.php", "line": 3, "what": "each()", "why": "gone"}]) == [
        "a.php:3 each() (gone)"]


def test_pool_ini_and_cron_parsing(tmp_path):
    pool = tmp_path / "bitrix.conf"
    pool.write_text("[bitrix]\nuser = bitrix\nlisten = /run/php/php7.4-fpm-bitrix.sock\n"
                    "php_admin_value[error_log] = /var/log/php/e.log\nphp_value[memory_limit] = 300M\n")
    parsed = facts.parse_pool(str(pool))
    assert parsed[0]["name"] == "bitrix" and parsed[0]["listen"] == "/run/php/php7.4-fpm-bitrix.sock"
    assert parsed[0]["error_log"] == "/var/log/php/e.log"
    cron = tmp_path / "bx_db"
    cron.write_text("# * * * * * bitrix /usr/bin/php7.4 -f /www/bitrix/modules/main/tools/cron_events.php"
                    "\n"
                    "* * * * * bitrix test -f /www/bitrix/modules/main/tools/cron_events.php && "
                    "{ /usr/bin/php7.4 -f /www/bitrix/modules/main/tools/cron_events.php; }"
                    " >/dev/null 2>&1\n")
    lines = facts.cron_lines([str(tmp_path)], "/www")
    assert [(x["line"], x["php"]) for x in lines] == [(2, "/usr/bin/php7.4")]


def test_code_scan_never_reads_through_a_symlink(tmp_path):
    """A site user's symlinks to files or folders outside the docroot are not the site's code (issue 11)."""
    docroot, outside = tmp_path / "www", tmp_path / "outside"
    _write(outside, "shadow.php", "<?php each($x);\n")
    _write(docroot, "local/a.php")
    (docroot / "local" / "shadow.php").symlink_to(outside / "shadow.php")
    (docroot / "local" / "dir").symlink_to(outside)
    (docroot / ".user.ini").symlink_to(outside / "shadow.php")
    roots = compat.own_code_roots(str(docroot), [])
    found = {str(Path(p).relative_to(docroot)) for p, _ in compat.walk_files(str(docroot), roots)}
    assert found == {"local/a.php"}


def test_a_symlinked_code_root_is_refused_naming_it(tmp_path):
    docroot, outside = tmp_path / "www", tmp_path / "outside"
    _write(outside, "x.php")
    _write(docroot, "bitrix/php_interface/init.php")
    (docroot / "local").symlink_to(outside)
    with pytest.raises(UnsafePath, match=r"www/local: it is a symlink"):
        compat.own_code_roots(str(docroot), [])
    with pytest.raises(UnsafePath, match="php_upgrade_extra_code_paths"):
        compat.own_code_roots(str(docroot / "bitrix"), ["../.."])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the drop happens only then)")
def test_php_runs_as_the_site_user_with_its_group_only():
    rc, out, _err = compat.run_as_site_user(["sh", "-c", "id -u; id -G"], "nobody")
    assert (rc, out.split()) == (0, ["65534", "65534"])  # Debian's nobody, its own group, not root's 0
