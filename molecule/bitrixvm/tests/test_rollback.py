"""Apache/mod_php switch back: the default site is put back on mod_php 7.4 (as before converge), a page only
PHP 8 breaks (count() on null) is added to the smoke test, and php_upgrade must swap Apache back to 7.4's
module, the php command back to 7.4, and fail naming the switch back. Runs after test_bitrixvm.py."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import run_playbook

HOSTNAME = "bxops-bitrixvm-host"
testinfra_hosts = [f"podman://{HOSTNAME}"]
RUN_ROLE = Path(__file__).resolve().parents[1] / "run_role.yml"
BREAKS_ON_8 = "<?php\n$items = null;\necho 'BXOPS-COUNT ' . @count($items);\n"
BACK_TO_74 = (
    "a2dismod -q php8.2 && a2enmod -q php7.4 && systemctl restart apache2"
    " && update-alternatives --set php /usr/bin/php7.4 >/dev/null"
    " && rm -f /var/lib/bxops/php_upgrade/_home_bitrix_www.json"
)


def _page(host, path: str) -> str:
    return host.check_output(f"curl -s -H 'Host: vm.bxops.test' http://127.0.0.1{path}")


@pytest.fixture(scope="module")
def failed_run(host):
    host.check_output(BACK_TO_74)
    assert _page(host, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 7.4 apache2handler"
    encoded = base64.b64encode(BREAKS_ON_8.encode()).decode()
    target = "/home/bitrix/www/bxops-test-count.php"
    host.check_output(f"echo {encoded} | base64 -d > {target} && chown bitrix: {target}")
    assert _page(host, "/bxops-test-count.php") == "BXOPS-COUNT 0"  # fine on 7.4
    proc = run_playbook(RUN_ROLE, HOSTNAME, extra_vars={
        "php_upgrade_ignore_compat": True,
        "php_upgrade_test_extra_urls": [{"path": "/bxops-test-count.php", "status": 200, "marker": "BXOPS-COUNT 0"}],
    })
    yield proc
    host.run(f"rm -f {target}")


def test_the_run_fails_and_says_it_switched_back(failed_run) -> None:
    assert failed_run.returncode != 0
    assert re.search(r"Switched Apache back to PHP 7\.4", failed_run.stdout), failed_run.stdout[-3000:]
    assert "bxops-test-count.php" in failed_run.stdout  # the failed page is named


def test_apache_is_back_on_php74(host, failed_run) -> None:
    assert host.file("/etc/apache2/mods-enabled/php7.4.load").exists
    assert not host.file("/etc/apache2/mods-enabled/php8.2.load").exists
    assert host.package("libapache2-mod-php8.2").is_installed  # the target stays installed
    assert _page(host, "/bxops-phpversion.php") == "BXOPS-PHPVERSION 7.4 apache2handler"
    assert _page(host, "/bxops-test-count.php") == "BXOPS-COUNT 0"


def test_cron_and_cli_are_back_on_php74(host, failed_run) -> None:
    assert host.check_output("readlink -f /usr/bin/php") == "/usr/bin/php7.4"
    cron = host.file("/etc/cron.d/bx_sitemanager").content_string
    assert "/usr/bin/php -f /home/bitrix/www/bitrix/modules/main/tools/cron_events.php" in cron
