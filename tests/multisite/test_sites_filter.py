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
                                                            "password": "p"}, "smoke_urls": ["/"]},
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
