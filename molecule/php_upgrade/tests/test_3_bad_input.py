"""Bad input is refused before any change, naming the variable (run on the legacy host, still on 7.4)."""
from __future__ import annotations

import pytest
from _phplib import LEGACY, OLD_SOCK, RUN_ROLE, UPSTREAM, connect, run_playbook


@pytest.fixture(scope="module")
def host():
    return connect(LEGACY)
VERSION_PHP = "/home/bitrix/www/bitrix/modules/main/classes/general/version.php"


def _state(host):
    """What a refused run must leave as it was: nginx's upstream, PHP packages, FPM services, the php command."""
    return (
        host.file(UPSTREAM).content_string,
        host.run("dpkg-query -W -f '${Package} ${db:Status-Status}\\n' 'php*'").stdout,
        host.run("systemctl is-active php7.4-fpm php8.2-fpm").stdout,
        host.check_output("readlink -f /usr/bin/php"),
        host.run("ls -R /etc/php").stdout,
    )


def _unchanged(host, before):
    assert host.service("php7.4-fpm").is_running
    assert f"unix:{OLD_SOCK}" in host.file(UPSTREAM).content_string
    assert _state(host) == before


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("eight", "php_upgrade_target must be a PHP version written X.Y"),
        ("7.3", "php_upgrade_target 7.3 is older than the PHP 7.4 serving the site"),
        ("9.9", "php_upgrade_target 9.9: the host's package source offers no php9.9-fpm"),
    ],
)
def test_refused_naming_the_variable(host, target, expected):
    before = _state(host)
    proc = run_playbook(RUN_ROLE, LEGACY, {"php_upgrade_target": target})
    assert proc.returncode != 0
    assert expected in " ".join(proc.stdout.split()), proc.stdout[-3000:]
    _unchanged(host, before)


def test_core_that_does_not_support_the_target(host):
    """A site whose core predates PHP 8 support (main 20.5.x) is refused for 8.2."""
    original = host.file(VERSION_PHP).content_string
    before = _state(host)
    host.check_output(f"cp -p {VERSION_PHP} /tmp/bxops-version.php")
    try:
        host.check_output(
            f"sed -i -E 's/(SM_VERSION[^0-9]{{1,6}})[0-9]+[.][0-9]+[.][0-9]+/\\120.5.300/' {VERSION_PHP}"
        )
        assert "20.5.300" in host.file(VERSION_PHP).content_string
        proc = run_playbook(RUN_ROLE, LEGACY, {"php_upgrade_target": "8.2"})
    finally:
        host.check_output(f"cp -p /tmp/bxops-version.php {VERSION_PHP}")
    assert host.file(VERSION_PHP).content_string == original
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    expected = "php_upgrade_target 8.2 is not supported by the site's core (main 20.5.300)"
    assert expected in text, proc.stdout[-3000:]
    _unchanged(host, before)
