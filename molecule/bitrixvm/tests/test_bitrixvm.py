"""BitrixVM flavour: nginx -> Apache (prefork, mod_php) as the site user, two sites. After converge: the audit
saw both sites on nginx+apache mod_php 7.4; the default site was upgraded to PHP 8.2 by swapping Apache's
module (7.4's disabled but installed), cron and the php command moved; permissions fixed on both sites."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import ephemeral

HOSTNAME = "bxops-bitrixvm-host"
testinfra_hosts = [f"podman://{HOSTNAME}"]  # podman exec: no ansible round trip per command
# Written by hand from images/bitrixvm-host and molecule.yml, not read from the code under test.
SITES = {
    "www": {"docroot": "/home/bitrix/www", "domain": "vm.bxops.test", "cron": "/etc/cron.d/bx_sitemanager"},
    "shop": {"docroot": "/home/bitrix/ext_www/shop.bxops.test", "domain": "shop.bxops.test",
             "cron": "/etc/cron.d/bx_shop"},
}


def planted(site: str) -> dict[str, Any]:
    return json.loads((ephemeral() / "truth" / f"{HOSTNAME}-{site}.json").read_text())


@pytest.mark.parametrize("site", sorted(SITES))
def test_audit_saw_nginx_apache_mod_php_74(site: str) -> None:
    report = json.loads((ephemeral() / "reports" / site / HOSTNAME / "audit-latest.json").read_text())
    assert report["docroot"] == SITES[site]["docroot"]
    assert report["web_stack"] == {"kind": "nginx+apache_mod_php", "php_version": "7.4",
                                   "php_sapi": "apache2handler", "apache_user": "bitrix"}
    assert report["php"]["serving"]["version"] == "7.4"
    assert report["php"]["settings"]["checked"] is True  # the apache2 SAPI's php.ini was read


def _get(host, site: str, path: str, port: int = 80) -> tuple[str, str]:
    out = host.check_output(
        f"curl -s -D - -H 'Host: {SITES[site]['domain']}' http://127.0.0.1:{port}{path}")
    head, _, body = out.partition("\r\n\r\n")
    return head, body


@pytest.mark.parametrize("site", sorted(SITES))
def test_sites_answer_through_nginx_from_apache_on_php82(host, site: str) -> None:
    head, body = _get(host, site, "/bxops-phpversion.php")
    assert head.startswith("HTTP/1.1 200")
    assert re.search(r"(?mi)^server: nginx", head)  # nginx in front
    # Apache has one PHP module for all its vhosts: the shop moved with the default site
    assert body.strip() == "BXOPS-PHPVERSION 8.2 apache2handler"
    # and Apache itself, on the loopback port nginx proxies to, serves it
    head, body = _get(host, site, "/bxops-phpversion.php", port=8888)
    assert re.search(r"(?mi)^server: apache", head)
    assert body.strip() == "BXOPS-PHPVERSION 8.2 apache2handler"


def test_generated_home_pages_answer(host) -> None:
    for site in SITES:
        page = planted(site)["pages"][0]
        head, body = _get(host, site, page["url"])
        assert head.startswith("HTTP/1.1 200"), (site, page["url"], head[:200])
        assert page["marker"] in body


def test_php74_module_disabled_but_installed(host) -> None:
    assert not host.file("/etc/apache2/mods-enabled/php7.4.load").exists
    assert host.file("/etc/apache2/mods-enabled/php8.2.load").exists
    assert host.file("/etc/apache2/mods-available/php7.4.load").exists
    assert host.package("libapache2-mod-php7.4").is_installed
    assert host.package("libapache2-mod-php8.2").is_installed
    assert host.check_output("a2query -M") == "prefork"
    assert host.service("apache2").is_running


@pytest.mark.parametrize("site", sorted(SITES))
def test_each_sites_cron_runs_php82(host, site: str) -> None:
    line = next(x for x in host.file(SITES[site]["cron"]).content_string.splitlines() if "cron_events.php" in x)
    assert f"{SITES[site]['docroot']}/bitrix/modules/main/tools/cron_events.php" in line
    binary = re.search(r"\{\s*(\S*php\S*)\s+-f", line).group(1)
    resolved = host.check_output(f"readlink -f $(command -v {binary})")
    assert resolved == "/usr/bin/php8.2"
    version = "echo PHP_MAJOR_VERSION.'.'.PHP_MINOR_VERSION;"
    assert host.check_output(f'runuser -u bitrix -- {binary} -r "{version}"') == "8.2"


def test_apache_runs_as_the_site_user(host) -> None:
    users = set(host.check_output("ps -o user= -C apache2").split())
    assert "bitrix" in users  # the workers; the parent is root
    assert users <= {"root", "bitrix"}


@pytest.mark.parametrize("site", sorted(SITES))
def test_permissions_fixed_for_apaches_user(host, site: str) -> None:
    docroot = SITES[site]["docroot"]
    truth = planted(site)
    wrong_owner = truth["security"]["wrong_owner"]
    # planted: root's and www-data's files (www-data is the web user of the FPM flavour, not Apache's here)
    assert {w["owner"] for w in wrong_owner} == {"root", "www-data"}
    for wrong in wrong_owner:
        f = host.file(f"{docroot}/{wrong['path']}")
        assert (f.user, f.group) == ("bitrix", "bitrix"), wrong["path"]
    settings = host.file(f"{docroot}/bitrix/.settings.php")
    assert settings.user == "bitrix" and settings.mode in (0o600, 0o640)
    # nothing under the docroot is owned by another user than Apache's (bitrix)
    assert host.check_output(f"find {docroot} -xdev ! -user bitrix -print | head -5") == ""


def test_https_on_the_nginx_front_reaches_apache(host) -> None:
    conf = host.file("/etc/nginx/sites-enabled").listdir()
    assert len(conf) >= 2, conf  # bitrixvm.conf and the certificates role's HTTPS server block
    out = host.check_output(
        "curl -s --cacert /dev/null -k --resolve vm.bxops.test:443:127.0.0.1 https://vm.bxops.test/bxops-phpversion.php")
    assert out == "BXOPS-PHPVERSION 8.2 apache2handler"
    issuer = host.check_output(
        "echo | openssl s_client -connect 127.0.0.1:443 -servername vm.bxops.test 2>/dev/null"
        " | openssl x509 -noout -issuer")
    assert "Pebble" in issuer
