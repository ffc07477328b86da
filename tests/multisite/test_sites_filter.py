"""The sites filter (plugins/filter/sites.py): hand-written inventories and the list or error they must give."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / ".collections") not in sys.path:
    sys.path.insert(0, str(ROOT / ".collections"))

from ansible_collections.bxops.bitrix.plugins.filter import sites as sf  # noqa: E402

ONE = {"name": "default", "docroot": "/home/bitrix/www", "domains": ["example.test"], "site_user": "bitrix",
       "site_group": "", "db": {"host": "localhost", "name": "sitemanager", "user": "bitrix", "password": "s3"},
       "smoke_urls": []}


def test_unset_list_is_the_one_site():
    assert sf.sites(None, ONE) == [{
        "name": "default", "docroot": "/home/bitrix/www", "domains": ["example.test"], "site_user": "bitrix",
        "site_group": "bitrix", "db": {"host": "localhost", "name": "sitemanager", "user": "bitrix",
                                        "password": "s3"}, "smoke_urls": []}]
    assert sf.sites([], ONE)[0]["docroot"] == "/home/bitrix/www"


def test_two_sites_filled_in():
    got = sf.sites([
        {"name": "main", "docroot": "/home/bitrix/www", "domains": ["Example.test."]},
        {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.bxops.test", "domains": ["shop.bxops.test"],
         "site_user": "shop", "db": {"name": "shop", "user": "shop", "password": "p"}, "smoke_urls": ["/"]},
    ], ONE)
    assert got == [
        {"name": "main", "docroot": "/home/bitrix/www", "domains": ["example.test"], "site_user": "bitrix",
         "site_group": "bitrix", "db": {"host": "", "name": "", "user": "", "password": ""}, "smoke_urls": []},
        {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.bxops.test", "domains": ["shop.bxops.test"],
         "site_user": "shop", "site_group": "shop", "db": {"host": "", "name": "shop", "user": "shop",
                                                            "password": "p"},
         "smoke_urls": [{"path": "/", "status": 200, "marker": ""}]},
    ]


@pytest.mark.parametrize("sites_in, expected", [
    ([{"name": "a", "docroot": "/srv/a"}, {"name": "a", "docroot": "/srv/b"}],
     ["site name 'a' is used more than once"]),
    ([{"name": "a", "docroot": "srv/a"}], ["site a: docroot 'srv/a' must be an absolute path"]),
    ([{"name": "a", "docroot": "/srv/../etc"}], ["must be a normalized path below /"]),
    ([{"name": "a", "docroot": "/"}], ["must be a normalized path below /"]),
    ([{"name": "a", "docroot": "/home/bitrix/www"}, {"name": "b", "docroot": "/home/bitrix/www/shop"}],
     ["site 'b': docroot /home/bitrix/www/shop lies inside the docroot /home/bitrix/www of site 'a'"]),
    ([{"name": "a", "docroot": "/srv/a"}, {"name": "b", "docroot": "/srv/a"}],
     ["sites 'a' and 'b' share the docroot /srv/a"]),
    ([{"name": "a", "docroot": "/srv/a", "domains": ["x.test"]},
      {"name": "b", "docroot": "/srv/b", "domains": ["X.test"]}],
     ["domain x.test belongs to both 'a' and 'b'"]),
    ([{"name": "../a", "docroot": "/srv/a"}], ["name '../a' must be"]),
    ([{"name": "a", "docroot": "/srv/a", "dbname": "x"}], ["unknown keys: dbname"]),
    ([{"name": "a", "docroot": "/srv/a", "db": {"pass": "x"}}], ["db must be a dict"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": "/"}],
     ["site a: smoke_urls must be a list of paths or {path, status, marker} dicts"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": ["about/"]}],
     ["site a: smoke_urls[0]: path 'about/' must start with / and hold no spaces or control characters"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": ["/a b"]}], ["smoke_urls[0]: path '/a b' must start with /"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [{"status": 200}]}], ["smoke_urls[0]: path None must"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [{"path": "/", "status": "200"}]}],
     ["site a: smoke_urls[0]: status '200' must be an HTTP status (100-599) or a list of them"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [{"path": "/", "status": []}]}], ["status [] must be"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [{"path": "/", "status": True}]}], ["status True must be"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [{"path": "/", "status": [200, 600]}]}],
     ["status [200, 600] must be"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [{"path": "/", "marker": 5}]}],
     ["smoke_urls[0]: marker 5 must be a text"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [{"path": "/", "url": "http://x/"}]}],
     ["smoke_urls[0] has unknown keys: url (known: path, status, marker)"]),
    ([{"name": "a", "docroot": "/srv/a", "smoke_urls": [7]}],
     ["smoke_urls[0] must be a path or a {path, status, marker} dict"]),
    ("main", ["must be a list of sites"]),
])
def test_bad_inventories_one_error(sites_in, expected):
    with pytest.raises(ValueError) as err:
        sf.sites(sites_in, ONE)
    for part in expected:
        assert part in str(err.value)


def test_all_problems_in_one_message():
    with pytest.raises(ValueError) as err:
        sf.sites([{"name": "a", "docroot": "rel"}, {"name": "a", "docroot": "/srv/b", "domains": [1]}], ONE)
    message = str(err.value)
    assert message.startswith("bitrix_sites is invalid: ")
    assert "'rel' must be an absolute path" in message
    assert "domains must be a list of names" in message
    assert "site name 'a' is used more than once" in message


def test_sibling_prefix_is_not_inside():
    got = sf.sites([{"name": "a", "docroot": "/srv/www"}, {"name": "b", "docroot": "/srv/www2"}], ONE)
    assert [s["docroot"] for s in got] == ["/srv/www", "/srv/www2"]


def test_smoke_urls_paths_and_dicts_come_out_as_the_roles_shape():
    got = sf.sites([{"name": "a", "docroot": "/srv/a", "smoke_urls": [
        "/", {"path": "/catalog/", "marker": "Catalog"}, {"path": "/gone", "status": [301, 410], "marker": None},
        {"path": "/api/", "status": 401, "marker": "denied"}]}], ONE)
    assert got[0]["smoke_urls"] == [
        {"path": "/", "status": 200, "marker": ""},
        {"path": "/catalog/", "status": 200, "marker": "Catalog"},
        {"path": "/gone", "status": [301, 410], "marker": ""},
        {"path": "/api/", "status": 401, "marker": "denied"},
    ]


def test_every_smoke_url_problem_of_every_site_in_one_message():
    with pytest.raises(ValueError) as err:
        sf.sites([{"name": "a", "docroot": "/srv/a", "smoke_urls": ["x", {"path": "/", "status": 0}]},
                  {"name": "b", "docroot": "/srv/b", "smoke_urls": [{"path": "/", "colour": "red"}]}], ONE)
    message = str(err.value)
    assert "site a: smoke_urls[0]: path 'x' must start with /" in message
    assert "site a: smoke_urls[1]: status 0 must be an HTTP status" in message
    assert "site b: smoke_urls[0] has unknown keys: colour" in message


@pytest.mark.parametrize(("name", "ok"), [
    ("shop", True), ("shop.bxops.test", True), ("www_2-old", True), ("9lives", True),
    ("", False), (".hidden", False), ("-x", False), ("a/b", False), ("..", False), ("a b", False),
    ("x" * 63, True), ("x" * 64, False), (None, False), (7, False),
])
def test_site_name_ok_is_one_safe_folder_name(name: object, ok: bool) -> None:
    """The audit's per-site report folder check (roles/audit/tasks/report.yml) uses this rule."""
    assert sf.site_name_ok(name) is ok
