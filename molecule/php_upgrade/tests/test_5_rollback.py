"""A smoke failure after the switch: the legacy site is forced through (php_upgrade_ignore_compat, reported)
with a page that only PHP 8 breaks (count() on null); the role must switch back to 7.4, which serves again."""
from __future__ import annotations

import base64
import re

import pytest
from _phplib import (
    DOCROOT,
    LEGACY,
    OLD_SOCK,
    RUN_ROLE,
    SITE_CLOSED,
    UPSTREAM,
    connect,
    package_installed,
    page,
    run_playbook,
    served_php,
    truth,
)


@pytest.fixture(scope="module")
def host():
    return connect(LEGACY)
BREAKS_ON_8 = "<?php\n$items = null;\necho 'BXOPS-COUNT ' . @count($items);\n"


@pytest.fixture(scope="module")
def failed_run(host):
    cron_before = host.file("/etc/cron.d/bx_sitemanager").content_string
    target = f"{DOCROOT}/bxops-test-count.php"
    encoded = base64.b64encode(BREAKS_ON_8.encode()).decode()
    host.check_output(f"echo {encoded} | base64 -d > {target} && chown bitrix: {target}")
    status, body = page(host, "/bxops-test-count.php")
    assert status == 200 and "BXOPS-COUNT 0" in body  # fine on 7.4
    proc = run_playbook(
        RUN_ROLE, LEGACY,
        {"php_upgrade_ignore_compat": True,
         "php_upgrade_test_extra_urls": [
             {"path": "/bxops-test-count.php", "status": 200, "marker": "BXOPS-COUNT"}]},
    )
    yield proc, cron_before
    host.run(f"rm -f {DOCROOT}/bxops-test-count.php")


def test_the_run_fails_with_the_report(failed_run):
    proc, _ = failed_run
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "Switched back to PHP 7.4" in text, proc.stdout[-4000:]
    assert "/bxops-test-count.php: status 500" in text
    assert re.search(r"ignored:\s+true", proc.stdout)  # the compat override is reported
    assert re.search(r"result:\s+rolled_back", proc.stdout)


def test_back_on_74_and_serving(host, failed_run):
    _, cron_before = failed_run
    assert f"unix:{OLD_SOCK}" in host.file(UPSTREAM).content_string
    assert host.service("php7.4-fpm").is_running
    assert not host.service("php8.2-fpm").is_running
    assert not host.file("/etc/php/8.2/fpm/pool.d/bitrix.conf").exists
    assert package_installed(host, "php8.2-fpm")  # the target stays installed, only switched off
    assert host.check_output("readlink -f /usr/bin/php") == "/usr/bin/php7.4"
    assert host.file("/etc/cron.d/bx_sitemanager").content_string == cron_before
    assert served_php(host) == "7.4"
    for entry in truth(LEGACY)["pages"]:
        status, body = page(host, entry["url"])
        assert status == 200 and entry["marker"] in body and SITE_CLOSED not in body, entry["url"]
