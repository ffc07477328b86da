"""The default site (each()/create_function() in its own code): preflight refused, naming every planted
file and line from truth.json, and nothing changed."""
from __future__ import annotations

import pytest
from _phplib import (
    LEGACY,
    OLD_SOCK,
    SITE_CLOSED,
    UPSTREAM,
    connect,
    ephemeral,
    package_installed,
    page,
    served_php,
    truth,
)


@pytest.fixture(scope="module")
def host():
    return connect(LEGACY)


def test_refusal_names_each_planted_file_and_line():
    refusal = (ephemeral() / f"php_upgrade-{LEGACY}-refusal.txt").read_text()
    planted = truth(LEGACY)["custom_code"]["php8_incompatible"]
    assert planted, "the default site should carry PHP-8-incompatible code"
    for entry in planted:
        assert f"{entry['path']}:{entry['line']} {entry['construct']}" in refusal, entry
    assert "nothing was changed" in refusal


def test_nothing_changed_still_on_74(host):
    assert f"unix:{OLD_SOCK}" in host.file(UPSTREAM).content_string
    assert host.service("php7.4-fpm").is_running
    assert not package_installed(host, "php8.2-fpm")
    assert not package_installed(host, "php8.2-cli")
    assert not host.file("/etc/php/8.2").exists
    assert host.check_output("readlink -f /usr/bin/php") == "/usr/bin/php7.4"
    assert served_php(host) == "7.4"
    for entry in truth(LEGACY)["pages"]:
        status, body = page(host, entry["url"])
        assert status == 200 and entry["marker"] in body and SITE_CLOSED not in body, entry["url"]
