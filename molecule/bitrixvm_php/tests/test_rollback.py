"""Apache/mod_php is host-wide: switching PHP for the default site switches the shop too. After converge (the
default site upgraded to 8.2) the shop answers from 8.2 and its cron runs 8.2. Then the host is put back on
mod_php 7.4, a page only PHP 8 breaks (count() on null) is planted under the OTHER site, the shop, and listed
in its smoke URLs (the inventory's bitrix_sites): upgrading the default site must swap Apache, the php command
and both sites' cron back to 7.4 and fail naming the shop. Last, the multi-site loop upgrades the host back to
8.2 (the second site's run finds it switched and flips nothing) and a second loop run changes nothing: the
host is left as the test found it."""

from __future__ import annotations

import base64
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import run_playbook


def _inventory_host() -> str:
    """The scenario's one host, as its inventory names it (the platform's name differs per scenario copy)."""
    inventory = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text())
    hosts = list((inventory.get("all") or {}).get("hosts") or {})
    assert len(hosts) == 1, hosts
    return hosts[0]


HOSTNAME = _inventory_host()
testinfra_hosts = [f"podman://{HOSTNAME}"]
RUN_ROLE = Path(__file__).resolve().parents[1] / "run_role.yml"
BREAKS_ON_8 = "<?php\n$items = null;\necho 'BXOPS-COUNT ' . @count($items);\n"
# Written by hand from images/bitrixvm-host and molecule.yml, not read from the code under test.
WWW, SHOP = "vm.bxops.test", "shop.bxops.test"
SHOP_ROOT = "/home/bitrix/ext_www/shop.bxops.test"
CRON = {"www": "/etc/cron.d/bx_sitemanager", "shop": "/etc/cron.d/bx_shop"}
CRON_TARGET = {"www": "/home/bitrix/www/bitrix/modules/main/tools/cron_events.php",
               "shop": f"{SHOP_ROOT}/bitrix/modules/main/tools/cron_events.php"}
BACK_TO_74 = (
    "a2dismod -q php8.2 && a2enmod -q php7.4 && systemctl restart apache2"
    " && update-alternatives --set php /usr/bin/php7.4 >/dev/null"
    " && sed -i 's#/usr/bin/php8\\.2 #/usr/bin/php #' /etc/cron.d/bx_sitemanager /etc/cron.d/bx_shop"
    " && rm -f /var/lib/bxops/php_upgrade/_home_bitrix_www.json"
    " /var/lib/bxops/php_upgrade/_home_bitrix_ext_www_shop_bxops_test.json"
)


def _page(host, domain: str, path: str) -> str:
    return host.check_output(f"curl -s -H 'Host: {domain}' http://127.0.0.1{path}")


def _cron_php(host, site: str) -> str:
    """The PHP binary the site's cron line runs, resolved as the shell would (/usr/bin/php -> alternatives)."""
    line = next(ln for ln in host.file(CRON[site]).content_string.splitlines()
                if CRON_TARGET[site] in ln and not ln.lstrip().startswith("#"))
    binary = re.search(r"(/usr/bin/php[0-9.]*)\s", line)
    assert binary, line
    return host.check_output(f"readlink -f {binary.group(1)}")


def _flat(text: str) -> str:
    """The run's output with YAML's line folding undone (long messages wrap)."""
    return " ".join(text.split())


def _apache_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value apache2")


# --- after converge: the shop moved with the default site ----------------------------------------------------

def test_after_converge_the_shop_answers_from_php82_through_nginx(host) -> None:
    assert _page(host, SHOP, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 8.2 apache2handler"


def test_after_converge_the_shops_cron_runs_php82(host) -> None:
    assert _cron_php(host, "shop") == "/usr/bin/php8.2"
    assert _cron_php(host, "www") == "/usr/bin/php8.2"


# --- the OTHER site's code is scanned before anything changes -----------------------------------------------

@pytest.fixture(scope="module")
def on_74(host):
    host.check_output(BACK_TO_74)
    assert _page(host, WWW, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 7.4 apache2handler"
    assert _page(host, SHOP, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 7.4 apache2handler"


@pytest.fixture(scope="module")
def refused_run(host, on_74):
    """The shop's own code (local/) calls create_function(), removed in PHP 8.0: upgrading www must stop."""
    code = f"{SHOP_ROOT}/local/php_interface/bxops_test_compat.php"
    encoded = base64.b64encode(b'<?php\n$f = create_function("$a", "return $a;");\n').decode()
    host.check_output(f"install -d -o bitrix -g bitrix {SHOP_ROOT}/local {SHOP_ROOT}/local/php_interface"
                      f" && echo {encoded} | base64 -d > {code} && chown bitrix: {code}")
    proc = run_playbook(RUN_ROLE, HOSTNAME)
    host.check_output(f"rm -f {code}")
    return proc


def test_the_other_sites_code_stops_the_upgrade_naming_it(host, refused_run) -> None:
    assert refused_run.returncode != 0
    out = _flat(refused_run.stdout)
    # no bitrix_sites in this run: the shop is named by its vhost's ServerName
    expected = (r"Site shop\.bxops\.test \(/home/bitrix/ext_www/shop\.bxops\.test\), served by the same Apache "
                r"PHP module, is not ready for PHP 8\.2 \(1 problem\(s\) in \d+ files; nothing was changed\): "
                r"local/php_interface/bxops_test_compat\.php:2 create_function\(\)")
    assert re.search(expected, out), refused_run.stdout[-3000:]
    assert host.file("/etc/apache2/mods-enabled/php7.4.load").exists
    assert not host.file("/etc/apache2/mods-enabled/php8.2.load").exists
    assert _page(host, SHOP, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 7.4 apache2handler"


# --- a failure on the OTHER site rolls the whole host back ---------------------------------------------------

@pytest.fixture(scope="module")
def failed_run(host, on_74, refused_run):
    encoded = base64.b64encode(BREAKS_ON_8.encode()).decode()
    target = f"{SHOP_ROOT}/bxops-test-count.php"
    host.check_output(f"echo {encoded} | base64 -d > {target} && chown bitrix: {target}")
    assert _page(host, SHOP, "/bxops-test-count.php") == "BXOPS-COUNT 0"  # fine on 7.4
    cron_before = {site: host.file(path).content_string for site, path in CRON.items()}
    proc = run_playbook(RUN_ROLE, HOSTNAME, extra_vars={
        "php_upgrade_ignore_compat": True,
        "php_upgrade_test_sites": [
            {"name": "www", "docroot": "/home/bitrix/www", "domains": [WWW]},
            {"name": "shop", "docroot": SHOP_ROOT, "domains": [SHOP], "smoke_urls": ["/", "/bxops-test-count.php"]},
        ],
    })
    yield proc, cron_before
    host.run(f"rm -f {target}")


def test_the_run_fails_naming_the_shop_and_says_it_switched_back(failed_run) -> None:
    proc, _ = failed_run
    assert proc.returncode != 0
    out = _flat(proc.stdout)
    assert re.search(r"Switched Apache back to PHP 7\.4", out), proc.stdout[-3000:]
    assert re.search(r"site shop \(shop\.bxops\.test\): /bxops-test-count\.php", out), proc.stdout[-3000:]


def test_apache_is_back_on_php74_for_both_sites(host, failed_run) -> None:
    assert host.file("/etc/apache2/mods-enabled/php7.4.load").exists
    assert not host.file("/etc/apache2/mods-enabled/php8.2.load").exists
    assert host.package("libapache2-mod-php8.2").is_installed  # the target stays installed
    assert _page(host, WWW, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 7.4 apache2handler"
    assert _page(host, SHOP, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 7.4 apache2handler"
    assert _page(host, SHOP, "/bxops-test-count.php") == "BXOPS-COUNT 0"


def test_cli_and_both_sites_cron_are_back_on_php74(host, failed_run) -> None:
    _, cron_before = failed_run
    assert host.check_output("readlink -f /usr/bin/php") == "/usr/bin/php7.4"
    for site, path in CRON.items():
        assert host.file(path).content_string == cron_before[site]
        assert _cron_php(host, site) == "/usr/bin/php7.4"
    assert "/usr/bin/php -f /home/bitrix/www/bitrix/modules/main/tools/cron_events.php" in cron_before["www"]


# --- the multi-site loop puts the host back on 8.2; the second site's run flips nothing -----------------------

@pytest.fixture(scope="module")
def loop_runs(host, failed_run):
    host.check_output(f"rm -f {SHOP_ROOT}/bxops-test-count.php")
    first = run_playbook(RUN_ROLE, HOSTNAME, extra_vars={"php_upgrade_test_loop": True})
    pid = _apache_pid(host)
    cron = {site: host.file(path).content_string for site, path in CRON.items()}
    second = run_playbook(RUN_ROLE, HOSTNAME, extra_vars={"php_upgrade_test_loop": True})
    return first, second, pid, cron


def test_the_loop_upgrades_on_the_first_site_and_finds_the_host_switched_on_the_second(loop_runs) -> None:
    first, _, _, _ = loop_runs
    assert first.returncode == 0, first.stdout[-3000:]
    out = _flat(first.stdout)
    assert "php_upgrade on www: upgraded to PHP 8.2 from 7.4;" in out, first.stdout[-3000:]
    assert "php_upgrade on shop: already_on_target (PHP 8.2, nothing switched);" in out
    # each site's run smoke-tested the other site too
    one_summary = r"(?:(?!php_upgrade on ).)*?"
    assert re.search(rf"php_upgrade on www: {one_summary}site shop \(shop\.bxops\.test\): smoke passed", out)
    assert re.search(rf"php_upgrade on shop: {one_summary}site www \(vm\.bxops\.test\): smoke passed", out)


def test_the_host_is_back_on_82_as_converge_left_it(host, loop_runs) -> None:
    assert host.file("/etc/apache2/mods-enabled/php8.2.load").exists
    assert not host.file("/etc/apache2/mods-enabled/php7.4.load").exists
    assert _page(host, WWW, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 8.2 apache2handler"
    assert _page(host, SHOP, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 8.2 apache2handler"
    assert host.check_output("readlink -f /usr/bin/php") == "/usr/bin/php8.2"
    for site in CRON:
        assert _cron_php(host, site) == "/usr/bin/php8.2"
    assert not host.file(f"{SHOP_ROOT}/bxops-test-count.php").exists


def test_a_second_loop_run_flips_nothing(host, loop_runs) -> None:
    _, second, pid, cron = loop_runs
    assert second.returncode == 0, second.stdout[-3000:]
    out = _flat(second.stdout)
    assert "php_upgrade on www: already_on_target (PHP 8.2, nothing switched);" in out
    assert "php_upgrade on shop: already_on_target (PHP 8.2, nothing switched);" in out
    assert re.search(r"changed=0\s", second.stdout), second.stdout[-2000:]
    assert _apache_pid(host) == pid  # Apache was not restarted
    assert {site: host.file(path).content_string for site, path in CRON.items()} == cron
