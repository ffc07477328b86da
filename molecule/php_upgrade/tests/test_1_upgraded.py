"""The clean site (--php8-clean) after converge: upgraded 7.4 -> 8.2, checked on the host against
truth.json."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from _phplib import (
    CLEAN,
    NEW_SOCK,
    OLD_SOCK,
    SITE_CLOSED,
    UPSTREAM,
    connect,
    package_installed,
    page,
    served_php,
    truth,
)


@pytest.fixture(scope="module")
def host():
    return connect(CLEAN)


def test_pages_answer_with_their_markers_served_by_82(host):
    pages = truth(CLEAN)["pages"]
    assert pages
    for entry in pages:
        status, body = page(host, entry["url"])
        assert status == 200, entry["url"]
        assert entry["marker"] in body and SITE_CLOSED not in body, entry["url"]
    assert served_php(host) == "8.2"


def test_nginx_points_at_the_new_pool_running_as_the_site_user(host):
    assert f"unix:{NEW_SOCK}" in host.file(UPSTREAM).content_string
    assert host.socket(f"unix://{NEW_SOCK}").is_listening
    pool = host.file("/etc/php/8.2/fpm/pool.d/bitrix.conf").content_string
    assert re.search(r"^user = bitrix$", pool, re.M)
    assert re.search(rf"^listen = {re.escape(NEW_SOCK)}$", pool, re.M)
    assert "error_log] = /var/log/php/bitrix-fpm-error.log" in pool
    assert host.service("php8.2-fpm").is_running
    assert not host.file("/etc/php/8.2/fpm/pool.d/www.conf").exists


def test_old_pool_stopped_but_old_php_kept(host):
    assert not host.service("php7.4-fpm").is_running
    assert not host.socket(f"unix://{OLD_SOCK}").is_listening
    assert not host.file("/etc/php/7.4/fpm/pool.d/bitrix.conf").exists
    assert host.file("/etc/php/7.4/fpm/pool.d/bitrix.conf.bxops-disabled").exists
    for name in ("php7.4-fpm", "php7.4-cli"):
        assert package_installed(host, name)


def test_cron_runs_the_agents_with_82(host):
    cron = host.file("/etc/cron.d/bx_sitemanager").content_string
    line = next(x for x in cron.splitlines() if "cron_events.php" in x and not x.startswith("#"))
    binary = re.search(r"(\S*php[\d.]*)\s+-f", line).group(1)
    assert host.check_output(f"readlink -f $(command -v {binary})") == "/usr/bin/php8.2"
    script = re.search(r"-f (\S+cron_events\.php)", line).group(1)
    run = host.run(f"runuser -u bitrix -- {binary} -f {script}")
    assert run.rc == 0, run.stderr
    assert "Fatal" not in run.stdout + run.stderr


def test_php_ini_carried_over_and_bitrix_requirements_applied(host):
    # what the site had on 7.4 (the image's BitrixVM ini) must hold on 8.2, plus the site checker's demands
    for sapi in ("fpm", "cli"):
        ours = host.file(f"/etc/php/8.2/{sapi}/conf.d/90-bxops-bitrix.ini").content_string
        assert re.search(r"^short_open_tag = On$", ours, re.M | re.I)
        old = host.run(f"cat /etc/php/7.4/{sapi}/conf.d/*bitrix*.ini").stdout
        for key, value in re.findall(r"^\s*([a-z_.]+)\s*=\s*(\S+)\s*$", old, re.M):
            if key in ("max_input_vars", "default_socket_timeout", "opcache.revalidate_freq",
                       "mbstring.func_overload"):
                continue
            assert re.search(rf"^{re.escape(key)} = {re.escape(value)}$", ours, re.M), (sapi, key, value)
    values = json.loads(host.check_output(
        "php8.2 -r 'echo json_encode(array_map(\"ini_get\", array(\"a\" => \"max_input_vars\", "
        "\"b\" => \"short_open_tag\", \"c\" => \"default_socket_timeout\", \"d\" => \"zend.multibyte\")));'"))
    assert int(values["a"]) >= 10000 and values["b"] == "1" and int(values["c"]) >= 60 and values["d"] == "0"


def test_staging_pass_recorded_for_production():
    folder = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / "promotions"
    texts = [p.read_text() for p in folder.glob("php_upgrade-staging.*.md")]
    assert texts, "staging wrote no promotion record"
    data = json.loads(texts[0].split("```json\n", 1)[1].split("\n```", 1)[0])
    assert data["reached"] == {"php": "8.2"} and data["smoke_passed"] is True and data["run_id"]
    assert data["kind"] == "php_upgrade" and data["environment"] == "staging"
