"""php_upgrade on Apache/mod_php: the sites the role checks and smoke-tests besides the one it was given
(filter php_upgrade_apache_sites over bitrix_webstack's apache.sites). Expected values written by hand."""
from __future__ import annotations

from ansible_collections.bxops.bitrix.plugins.filter.php_upgrade import php_upgrade_apache_sites, php_upgrade_serving
from ansible_collections.bxops.bitrix.plugins.filter.sites import sites as normalized_sites

APACHE_SITES = [
    {"docroot": "/home/bitrix/www", "server_name": ["vm.bxops.test"], "files": ["/etc/a.conf"], "problem": None},
    {"docroot": "/home/bitrix/ext_www/shop.bxops.test", "server_name": ["shop.bxops.test", "www.shop.bxops.test"],
     "files": ["/etc/a.conf"], "problem": None},
    {"docroot": "/home/bitrix/ext_www/blog.bxops.test", "server_name": [], "files": ["/etc/b.conf"], "problem": None},
    {"docroot": "/var/www/legacy", "server_name": ["legacy.bxops.test"], "files": ["/etc/b.conf"],
     "problem": "DocumentRoot /var/www/legacy is outside /home/bitrix: not checked"},
]
RUN_URLS = [{"path": "/", "status": 200, "marker": "</html>"}, {"path": "/news/", "status": 200, "marker": ""}]
ROOT = [{"path": "/", "status": 200, "marker": ""}]


def test_the_given_site_first_with_the_runs_pages_the_others_with_slash_on_their_own_domain() -> None:
    sites = php_upgrade_apache_sites(APACHE_SITES, "/home/bitrix/www/", "default", ["vm.bxops.test"], RUN_URLS,
                                     "vm.bxops.test", "bitrix", [])
    assert sites == [
        {"name": "default", "docroot": "/home/bitrix/www", "domains": ["vm.bxops.test"], "host": "vm.bxops.test",
         "smoke_urls": RUN_URLS, "site_user": "bitrix", "given": True, "checked": True, "problem": None},
        {"name": "shop.bxops.test", "docroot": "/home/bitrix/ext_www/shop.bxops.test",
         "domains": ["shop.bxops.test", "www.shop.bxops.test"], "host": "shop.bxops.test", "smoke_urls": ROOT,
         "site_user": "bitrix", "given": False, "checked": True, "problem": None},
        {"name": "blog.bxops.test", "docroot": "/home/bitrix/ext_www/blog.bxops.test", "domains": [],
         "host": "localhost", "smoke_urls": ROOT, "site_user": "bitrix", "given": False, "checked": True,
         "problem": None},
        {"name": "legacy.bxops.test", "docroot": "/var/www/legacy", "domains": ["legacy.bxops.test"],
         "host": "legacy.bxops.test", "smoke_urls": ROOT, "site_user": "bitrix", "given": False, "checked": False,
         "problem": "DocumentRoot /var/www/legacy is outside /home/bitrix: not checked"},
    ]


def test_bitrix_sites_entries_name_the_sites_and_give_their_pages() -> None:
    bitrix_sites = [
        {"name": "main", "docroot": "/home/bitrix/www", "domains": ["vm.bxops.test"]},
        {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.bxops.test/", "domains": ["shop.example.ru"],
         "smoke_urls": ["/", "/catalog/"], "site_user": "shopuser"},
    ]
    sites = php_upgrade_apache_sites(APACHE_SITES, "/home/bitrix/www", "main", ["vm.bxops.test"], RUN_URLS,
                                     "vm.bxops.test", "bitrix", bitrix_sites)
    assert sites[0]["smoke_urls"] == RUN_URLS  # no smoke_urls in its entry: the run's own pages
    shop = sites[1]
    assert (shop["name"], shop["host"], shop["site_user"]) == ("shop", "shop.example.ru", "shopuser")
    assert shop["smoke_urls"] == [{"path": "/", "status": 200, "marker": ""},
                                  {"path": "/catalog/", "status": 200, "marker": ""}]


def test_under_the_multi_site_loop_the_given_site_takes_its_entrys_pages() -> None:
    """The shop's run of the loop: the shop is the given site, the default site one of the others."""
    bitrix_sites = [
        {"name": "www", "docroot": "/home/bitrix/www", "smoke_urls": ["/bxops-phpversion.php"]},
        {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.bxops.test", "smoke_urls": ["/basket/"]},
    ]
    sites = php_upgrade_apache_sites(APACHE_SITES, "/home/bitrix/ext_www/shop.bxops.test", "shop",
                                     ["shop.bxops.test"], ROOT, "shop.bxops.test", "bitrix", bitrix_sites)
    assert [(s["name"], s["given"], s["checked"]) for s in sites] == [
        ("shop", True, True), ("www", False, True), ("blog.bxops.test", False, True),
        ("legacy.bxops.test", False, False)]
    assert sites[0]["smoke_urls"] == [{"path": "/basket/", "status": 200, "marker": ""}]
    assert sites[1]["smoke_urls"] == [{"path": "/bxops-phpversion.php", "status": 200, "marker": ""}]
    assert sites[1]["host"] == "vm.bxops.test"  # no domains in its entry: its vhost's ServerName


def test_an_fpm_host_has_only_the_given_site() -> None:
    assert [s["docroot"] for s in php_upgrade_apache_sites([], "/home/bitrix/www", "default", [], ROOT,
                                                           "localhost", "bitrix", [])] == ["/home/bitrix/www"]


def test_entries_as_the_sites_filter_gives_them_keep_their_status_and_marker() -> None:
    """each_site passes bitrix_sites through the sites filter first: smoke URLs arrive as dicts (the BitrixVM
    matrix failed on this: a dict was read as a path)."""
    raw = [
        {"name": "www", "docroot": "/home/bitrix/www", "domains": ["vm.bxops.test"],
         "smoke_urls": [{"path": "/", "status": 200, "marker": "BXOPS-PAGE-OK home"}]},
        {"name": "shop", "docroot": "/home/bitrix/ext_www/shop.bxops.test", "domains": ["shop.bxops.test"],
         "smoke_urls": ["/basket/", {"path": "/order/", "status": [200, 302]}]},
    ]
    given = normalized_sites(raw, {})
    sites = php_upgrade_apache_sites(APACHE_SITES, "/home/bitrix/ext_www/shop.bxops.test", "shop",
                                     ["shop.bxops.test"], ROOT, "shop.bxops.test", "bitrix", given)
    assert sites[0]["smoke_urls"] == [{"path": "/basket/", "status": 200, "marker": ""},
                                      {"path": "/order/", "status": [200, 302], "marker": ""}]
    assert sites[1]["name"] == "www"
    assert sites[1]["smoke_urls"] == [{"path": "/", "status": 200, "marker": "BXOPS-PAGE-OK home"}]


def test_the_rollback_report_gives_each_sites_status_or_none_when_it_was_not_asked() -> None:
    loop = [
        {"__php_upgrade_site": {"name": "www"}, "results": [{"path": "/", "status": 200, "ok": True}]},
        {"__php_upgrade_site": {"name": "shop"}, "failed": True, "msg": "urls[0]: bad path"},
        {"__php_upgrade_site": {"name": "blog"}, "results": [{"path": "/", "status": 502, "ok": False}]},
    ]
    assert php_upgrade_serving(loop) == {"www": 200, "shop": None, "blog": 502}
