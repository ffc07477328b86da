"""common's each_site loop, run by ansible-playbook on localhost with a stand-in role (tests/multisite/roles):
every site runs under its own lock with its own variables, a failed site does not stop the others, the play
fails at the end naming it, and bitrix_sites_stop_on_failure stops at the first failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]


def run(tmp_path: Path, sites: list[dict[str, object]] | None, *extra: str,
        callback: str | None = None, more: dict[str, object] | None = None) -> tuple[int, str]:
    host_vars: dict[str, object] = {"bxops_state_dir": str(tmp_path / "state"), "bxops_run_id": "t1",
                                    "bitrix_docroot": str(tmp_path / "one"), "bitrix_domains": ["one.test"],
                                    "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                    **(more or {})}
    if sites is not None:
        host_vars["bitrix_sites"] = sites
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": host_vars}}}))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_ROLES_PATH=str(HERE / "roles"), ANSIBLE_LOCALHOST_WARNING="false")
    if callback:
        env["ANSIBLE_STDOUT_CALLBACK"] = callback
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(HERE / "each_site.yml"), *extra],
                          cwd=PROJECT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    return proc.returncode, proc.stdout


def seen(docroot: Path) -> dict[str, object]:
    return json.loads((docroot / "seen.json").read_text())


def make(tmp_path: Path, *names: str) -> list[Path]:
    paths = [tmp_path / n for n in names]
    for p in paths:
        p.mkdir()
    return paths


def test_one_site_variables_still_work(tmp_path: Path) -> None:
    (one,) = make(tmp_path, "one")
    rc, out = run(tmp_path, None)
    assert rc == 0, out
    assert seen(one) == {"name": "default", "domains": ["one.test"], "db_name": "", "lock": 1}
    assert "default: ok" in out


def test_failed_site_does_not_stop_the_others(tmp_path: Path) -> None:
    main, bad, shop = make(tmp_path, "main", "bad", "shop")
    sites = [{"name": "main", "docroot": str(main), "domains": ["main.test"]},
             {"name": "broken", "docroot": str(bad)},
             {"name": "shop", "docroot": str(shop), "domains": ["shop.test"], "db": {"name": "shopdb"}}]
    rc, out = run(tmp_path, sites)
    assert rc == 2, out
    assert seen(main) == {"name": "main", "domains": ["main.test"], "db_name": "", "lock": 1}
    assert seen(shop) == {"name": "shop", "domains": ["shop.test"], "db_name": "shopdb", "lock": 1}
    assert seen(bad)["name"] == "broken"
    assert "failed on site(s) broken (2 of 3 succeeded)" in " ".join(out.split())
    assert list((tmp_path / "state" / "locks").glob("*.lock")) == []


def test_site_db_passwords_stay_out_of_task_results(tmp_path: Path) -> None:
    # The runner keeps every task result as an event (ansible-runner's job_events); the json callback prints the
    # same results, loop items included, without the display's labels.
    main, shop = make(tmp_path, "main", "shop")
    sites = [{"name": "main", "docroot": str(main), "db": {"name": "maindb", "password": "Main-DB-pw-71"}},
             {"name": "shop", "docroot": str(shop), "db": {"name": "shopdb", "password": "Shop-DB-pw-93"}}]
    rc, out = run(tmp_path, sites, callback="ansible.posix.json")
    assert rc == 0, out
    assert seen(shop)["db_name"] == "shopdb"
    assert "Main-DB-pw-71" not in out and "Shop-DB-pw-93" not in out


def test_stop_on_failure(tmp_path: Path) -> None:
    bad, shop = make(tmp_path, "bad", "shop")
    sites = [{"name": "broken", "docroot": str(bad)}, {"name": "shop", "docroot": str(shop)}]
    rc, out = run(tmp_path, sites, "-e", "bitrix_sites_stop_on_failure=true")
    assert rc == 2, out
    assert not (shop / "seen.json").exists()
    assert "failed on site broken; bitrix_sites_stop_on_failure is set" in out


@pytest.mark.parametrize("sites, message", [
    ([{"name": "a", "docroot": "/srv/www"}, {"name": "b", "docroot": "/srv/www/b"}],
     "site 'b': docroot /srv/www/b lies inside the docroot /srv/www of site 'a'"),
    ([{"name": "a", "docroot": "/srv/a"}, {"name": "a", "docroot": "/srv/b"}], "site name 'a' is used more than once"),
])
def test_invalid_sites_refused_before_any_site(tmp_path: Path, sites: list[dict[str, object]], message: str) -> None:
    rc, out = run(tmp_path, sites)
    assert rc == 2, out
    assert message in out
    assert "Run the role on the site" not in out


def test_extra_var_overriding_the_sites_is_refused(tmp_path: Path) -> None:
    main, shop = make(tmp_path, "main", "shop")
    sites = [{"name": "main", "docroot": str(main)}, {"name": "shop", "docroot": str(shop)}]
    rc, out = run(tmp_path, sites, "-e", f"bitrix_docroot={main}")
    assert rc == 2, out
    expected = "bitrix_docroot or bitrix_db_name is given as an extra variable (-e), which would override every site"
    assert expected in " ".join(out.split())
    assert not (main / "seen.json").exists() and not (shop / "seen.json").exists()


def smoke(docroot: Path) -> dict[str, object]:
    return json.loads((docroot / "smoke.json").read_text())


ROLE_DEFAULT = [{"path": "/", "status": 200, "marker": "fake default"}]  # tests/multisite/roles/fake_site/defaults


def test_site_smoke_urls_reach_the_roles_only_for_that_site(tmp_path: Path) -> None:
    # The site with smoke URLs runs first: the next site must not inherit them.
    main, shop = make(tmp_path, "main", "shop")
    sites = [{"name": "main", "docroot": str(main),
              "smoke_urls": ["/", {"path": "/catalog/", "marker": "Catalog"}, {"path": "/old", "status": [301, 404]}]},
             {"name": "shop", "docroot": str(shop)}]
    rc, out = run(tmp_path, sites)
    assert rc == 0, out
    mapped = [{"path": "/", "status": 200, "marker": ""}, {"path": "/catalog/", "status": 200, "marker": "Catalog"},
              {"path": "/old", "status": [301, 404], "marker": ""}]
    assert smoke(main) == {"update": mapped, "php_upgrade": mapped, "backup_drill": mapped}
    assert smoke(shop) == {"update": ROLE_DEFAULT, "php_upgrade": "unset", "backup_drill": "unset"}


def test_site_without_smoke_urls_keeps_the_inventorys(tmp_path: Path) -> None:
    main, shop = make(tmp_path, "main", "shop")
    inventory_urls = [{"path": "/inventory/", "status": 200, "marker": "INV"}]
    sites = [{"name": "main", "docroot": str(main)}, {"name": "shop", "docroot": str(shop), "smoke_urls": ["/s"]}]
    rc, out = run(tmp_path, sites, more={"update_smoke_urls": inventory_urls})
    assert rc == 0, out
    assert smoke(main)["update"] == inventory_urls
    assert smoke(shop)["update"] == [{"path": "/s", "status": 200, "marker": ""}]


def test_one_site_run_keeps_the_roles_smoke_urls(tmp_path: Path) -> None:
    (one,) = make(tmp_path, "one")
    rc, out = run(tmp_path, None)
    assert rc == 0, out
    assert smoke(one) == {"update": ROLE_DEFAULT, "php_upgrade": "unset", "backup_drill": "unset"}


def test_bad_smoke_urls_refused_before_any_site(tmp_path: Path) -> None:
    main, shop = make(tmp_path, "main", "shop")
    sites = [{"name": "main", "docroot": str(main)},
             {"name": "shop", "docroot": str(shop), "smoke_urls": [{"path": "/", "status": 999}]}]
    rc, out = run(tmp_path, sites)
    assert rc == 2, out
    assert "site shop: smoke_urls[0]: status 999 must be an HTTP status (100-599) or a list of them" in out
    assert not (main / "seen.json").exists()
