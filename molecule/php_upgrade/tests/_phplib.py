"""Shared helpers for the php_upgrade scenario's tests."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from bxops_testlib import PROJECT, ephemeral, run_playbook, truth  # noqa: F401

# The role hands its report to the runner through set_stats: show it in the playbook output the tests read.
os.environ["ANSIBLE_SHOW_CUSTOM_STATS"] = "true"

CLEAN = "bxops-php_upgrade-clean"
LEGACY = "bxops-php_upgrade-legacy"
RUN_ROLE = Path(__file__).resolve().parents[1] / "run_role.yml"
DOCROOT = "/home/bitrix/www"
UPSTREAM = "/etc/nginx/conf.d/bx_php_upstream.conf"
OLD_SOCK = "/run/php/php7.4-fpm-bitrix.sock"
NEW_SOCK = "/run/php/php8.2-fpm-bitrix.sock"


def connect(name: str):
    """A testinfra host for one inventory host, whatever --hosts the verifier was given."""
    import testinfra

    return testinfra.get_host(f"podman://{name}")


# what the stand-in answers while the public part is closed (main.site_stopped=Y): 503 and this marker
SITE_CLOSED = "BXOPS-SITE-CLOSED"


def page(host, url: str) -> tuple[int, str]:
    """Status and body of a page as nginx serves it on the host."""
    out = host.check_output(f"curl -s -o /tmp/bxops-page -w '%{{http_code}}' http://127.0.0.1{url}")
    return int(out.strip()), host.file("/tmp/bxops-page").content_string


def served_php(host) -> str:
    """The PHP version nginx's upstream really executes pages with (a throwaway probe page)."""
    probe = f"{DOCROOT}/bxops-test-php-version.php"
    host.check_output(f"printf '%s' '<?php echo PHP_MAJOR_VERSION, \".\", PHP_MINOR_VERSION;' > {probe}")
    try:
        return host.check_output("curl -s http://127.0.0.1/bxops-test-php-version.php").strip()
    finally:
        host.run(f"rm -f {probe}")


def package_installed(host, name: str) -> bool:
    return host.run(f"dpkg-query -W -f '${{db:Status-Status}}' {name}").stdout.strip() == "installed"
