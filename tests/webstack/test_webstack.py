"""The web-stack detector (module_utils/bitrix_webstack.py) over hand-written nginx/Apache/FPM fixtures.

Each fixture tree is a host's /etc laid out by hand, as BitrixVM (nginx -> Apache mod_php), the FPM host and
an EL-style Apache would have it; the expected answers below are read off the fixture text, not the code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_webstack as ws

NGINX_CONF = """\
user www-data;
events { worker_connections 768; }
http {
    include /etc/nginx/mime.types;   # not there: an include that matches nothing
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}
"""

BITRIXVM_NGINX = """\
upstream bx_apache { server 127.0.0.1:8888; }
server {
    listen 80 default_server;
    server_name vm.bxops.test _;
    root /home/bitrix/www;
    # location ~ \\.php$ { fastcgi_pass unix:/run/php/old.sock; }   commented out: must not count
    location ~* \\.(css|js)$ { try_files $uri @apache; }
    location / { proxy_pass http://bx_apache; proxy_set_header Host $host; }
    location @apache { proxy_pass http://bx_apache; }
}
server {
    listen 80;
    server_name shop.bxops.test;
    root "/home/bitrix/ext_www/shop.bxops.test/";
    location / { proxy_pass http://127.0.0.1:8888/; }
}
"""

APACHE_PORTS = "# only the loopback\nListen 127.0.0.1:8888\n"
APACHE_VHOSTS = """\
<VirtualHost 127.0.0.1:8888>
    ServerName vm.bxops.test
    DocumentRoot /home/bitrix/www
</VirtualHost>
<VirtualHost 127.0.0.1:8888>
    ServerName shop.bxops.test
    ServerAlias www.shop.bxops.test
    DocumentRoot /home/bitrix/ext_www/shop.bxops.test
</VirtualHost>
"""
ENVVARS = "export APACHE_RUN_USER=bitrix\nexport APACHE_RUN_GROUP=bitrix\n# export APACHE_RUN_USER=www-data\n"

FPM_NGINX = """\
server {
    listen 80 default_server;
    server_name _;
    root /home/bitrix/www;
    location ~ \\.php$ { include fastcgi_params; fastcgi_pass bx_php; }
    location / { try_files $uri $uri/ /bitrix/urlrewrite.php$is_args$args; }
}
"""
FPM_UPSTREAM = "upstream bx_php {\n    server unix:/run/php/php7.4-fpm-bitrix.sock;\n}\n"
FPM_POOL = "[bitrix]\nuser = bitrix\n; listen = /run/php/wrong.sock\nlisten = /run/php/php7.4-fpm-bitrix.sock\n"
FPM_WWW = "[www]\nuser = www-data\nlisten = /run/php/php8.2-fpm.sock\n"


def write(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, target in (links or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    return root


@pytest.fixture
def bitrixvm(tmp_path: Path) -> Path:
    return write(tmp_path, {
        "etc/nginx/nginx.conf": NGINX_CONF,
        "etc/nginx/sites-available/bitrixvm.conf": BITRIXVM_NGINX,
        "etc/apache2/ports.conf": APACHE_PORTS,
        "etc/apache2/envvars": ENVVARS,
        "etc/apache2/sites-available/bitrix.conf": APACHE_VHOSTS,
        "etc/apache2/mods-available/php7.4.load": "LoadModule php7_module /usr/lib/apache2/modules/libphp7.4.so\n",
        "etc/apache2/mods-available/php8.2.load": "LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so\n",
        "etc/apache2/mods-available/mpm_prefork.load": "",
        "etc/apache2/mods-available/mpm_event.load": "",
    }, links={
        "etc/nginx/sites-enabled/bitrixvm.conf": "../sites-available/bitrixvm.conf",
        "etc/apache2/sites-enabled/000-bitrix.conf": "../sites-available/bitrix.conf",
        "etc/apache2/mods-enabled/php7.4.load": "../mods-available/php7.4.load",
        "etc/apache2/mods-enabled/mpm_prefork.load": "../mods-available/mpm_prefork.load",
    })


def test_bitrixvm_default_site_is_nginx_to_apache_mod_php74(bitrixvm: Path) -> None:
    found = ws.detect("/home/bitrix/www", root=str(bitrixvm))
    assert found["kind"] == "nginx+apache_mod_php"
    assert found["php"] == {"version": "7.4", "sapi": "apache2handler", "module": "php7.4", "service": "apache2"}
    assert found["front"]["server_name"] == ["vm.bxops.test"]
    assert found["front"]["pass"] == "proxy"
    assert found["front"]["servers"] == ["127.0.0.1:8888"]
    apache = found["apache"]
    assert apache["mpm"] == "prefork"
    assert apache["run_user"] == "bitrix" and apache["run_group"] == "bitrix"
    assert apache["php_modules_enabled"] == ["php7.4"]
    assert apache["php_modules_installed"] == ["php7.4", "php8.2"]
    assert apache["vhost"]["server_name"] == ["vm.bxops.test"]
    assert apache["vhost"]["file"] == "/etc/apache2/sites-enabled/000-bitrix.conf"


def test_bitrixvm_ext_www_site_found_by_its_own_root(bitrixvm: Path) -> None:
    found = ws.detect("/home/bitrix/ext_www/shop.bxops.test/", root=str(bitrixvm))
    assert found["kind"] == "nginx+apache_mod_php"
    assert found["front"]["server_name"] == ["shop.bxops.test"]
    assert found["front"]["servers"] == ["127.0.0.1:8888"]  # direct proxy_pass, no upstream
    assert found["apache"]["vhost"]["server_name"] == ["shop.bxops.test", "www.shop.bxops.test"]
    assert found["php"]["version"] == "7.4"


def test_module_swap_is_seen(bitrixvm: Path) -> None:
    (bitrixvm / "etc/apache2/mods-enabled/php7.4.load").unlink()
    (bitrixvm / "etc/apache2/mods-enabled/php8.2.load").symlink_to("../mods-available/php8.2.load")
    found = ws.detect("/home/bitrix/www", root=str(bitrixvm))
    assert found["php"]["version"] == "8.2"
    assert found["apache"]["php_modules_installed"] == ["php7.4", "php8.2"]  # the old one stays installed


def test_two_php_modules_enabled_is_no_answer(bitrixvm: Path) -> None:
    (bitrixvm / "etc/apache2/mods-enabled/php8.2.load").symlink_to("../mods-available/php8.2.load")
    found = ws.detect("/home/bitrix/www", root=str(bitrixvm))
    assert found["kind"] == "nginx+apache_mod_php"
    assert found["php"]["version"] is None  # Apache refuses two PHP modules: do not guess one


def test_proxy_to_a_port_apache_does_not_listen_on_is_not_apache(bitrixvm: Path) -> None:
    conf = bitrixvm / "etc/nginx/sites-available/bitrixvm.conf"
    conf.write_text(BITRIXVM_NGINX.replace("127.0.0.1:8888;", "127.0.0.1:9000;"))
    found = ws.detect("/home/bitrix/www", root=str(bitrixvm))
    assert found["kind"] == "nginx"
    assert found["php"]["version"] is None


def test_unknown_docroot(bitrixvm: Path) -> None:
    found = ws.detect("/var/www/other", root=str(bitrixvm))
    assert found["kind"] == "unknown"
    assert found["front"] is None


def test_fpm_host_follows_upstream_to_pool(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "etc/nginx/nginx.conf": NGINX_CONF,
        "etc/nginx/conf.d/bx_php_upstream.conf": FPM_UPSTREAM,
        "etc/nginx/sites-enabled/bitrix.conf": FPM_NGINX,
        "etc/php/7.4/fpm/pool.d/bitrix.conf": FPM_POOL,
        "etc/php/8.2/fpm/pool.d/www.conf": FPM_WWW,
    })
    found = ws.detect("/home/bitrix/www", root=str(root))
    assert found["kind"] == "nginx+php_fpm"
    assert found["front"]["location"] == "~ \\.php$"
    assert found["php"] == {"version": "7.4", "sapi": "fpm", "pool_file": "/etc/php/7.4/fpm/pool.d/bitrix.conf",
                            "service": "php7.4-fpm"}
    assert found["fpm"]["socket"] == "/run/php/php7.4-fpm-bitrix.sock"
    assert found["apache"] is None


def test_apache_alone_serves_the_docroot(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "etc/apache2/ports.conf": "Listen 80\n",
        "etc/apache2/envvars": "export APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n",
        "etc/apache2/sites-enabled/site.conf": "<VirtualHost *:80>\nDocumentRoot /home/bitrix/www/\n</VirtualHost>\n",
        "etc/apache2/mods-enabled/php8.2.load": "",
        "etc/apache2/mods-available/php8.2.load": "",
    })
    found = ws.detect("/home/bitrix/www", root=str(root))
    assert found["kind"] == "apache_mod_php"
    assert found["php"]["version"] == "8.2"
    assert found["apache"]["run_user"] == "www-data"


# --- every site Apache serves (its PHP module is host-wide) --------------------------------------------------

MORE_VHOSTS = """\
# the shop again on a second address: one site, names merged
<VirtualHost 127.0.0.1:8889>
    ServerAlias m.shop.bxops.test
    ServerName shop.bxops.test
    DocumentRoot "/home/bitrix/ext_www/shop.bxops.test/"
</VirtualHost>
<VirtualHost 127.0.0.1:8888>
    ServerName blog.bxops.test
    DocumentRoot /home/bitrix/ext_www/blog.bxops.test
</VirtualHost>
<VirtualHost 127.0.0.1:8888>
    ServerName linked.bxops.test
    DocumentRoot /home/bitrix/ext_www/linked.bxops.test
</VirtualHost>
<VirtualHost 127.0.0.1:8888>
    ServerName legacy.bxops.test
    DocumentRoot /var/www/legacy
</VirtualHost>
<VirtualHost 127.0.0.1:8888>
    ServerName gone.bxops.test
    DocumentRoot /home/bitrix/ext_www/gone.bxops.test
</VirtualHost>
"""
DISABLED_VHOST = (
    "<VirtualHost 127.0.0.1:8888>\nServerName off.bxops.test\nDocumentRoot /home/bitrix/ext_www/off\n</VirtualHost>\n"
)


@pytest.fixture
def many_sites(bitrixvm: Path) -> Path:
    write(bitrixvm, {
        "etc/apache2/sites-available/more.conf": MORE_VHOSTS,
        "etc/apache2/sites-available/off.conf": DISABLED_VHOST,
        "home/bitrix/www/index.php": "<?php // www\n",
        "home/bitrix/ext_www/shop.bxops.test/index.php": "<?php // shop\n",
        "home/bitrix/ext_www/blog.bxops.test/index.php": "<?php // blog\n",
        "home/bitrix/ext_www/off/index.php": "",
        "srv/elsewhere/index.php": "<?php // outside the sites' root, reached by a symlink\n",
        "var/www/legacy/index.php": "",
    }, links={
        "etc/apache2/sites-enabled/010-more.conf": "../sites-available/more.conf",
        "home/bitrix/ext_www/linked.bxops.test": str(bitrixvm / "srv/elsewhere"),
    })
    return bitrixvm


# Read off MORE_VHOSTS / APACHE_VHOSTS and the fixture tree above, in sites-enabled order (000-, then 010-).
EXPECTED_SITES = [
    {"docroot": "/home/bitrix/www", "server_name": ["vm.bxops.test"],
     "files": ["/etc/apache2/sites-enabled/000-bitrix.conf"], "problem": None},
    {"docroot": "/home/bitrix/ext_www/shop.bxops.test",
     "server_name": ["shop.bxops.test", "www.shop.bxops.test", "m.shop.bxops.test"],
     "files": ["/etc/apache2/sites-enabled/000-bitrix.conf", "/etc/apache2/sites-enabled/010-more.conf"],
     "problem": None},
    {"docroot": "/home/bitrix/ext_www/blog.bxops.test", "server_name": ["blog.bxops.test"],
     "files": ["/etc/apache2/sites-enabled/010-more.conf"], "problem": None},
    {"docroot": "/home/bitrix/ext_www/linked.bxops.test", "server_name": ["linked.bxops.test"],
     "files": ["/etc/apache2/sites-enabled/010-more.conf"],
     "problem": "DocumentRoot /home/bitrix/ext_www/linked.bxops.test goes through the symlink "
                "/home/bitrix/ext_www/linked.bxops.test: not followed, not checked"},
    {"docroot": "/var/www/legacy", "server_name": ["legacy.bxops.test"],
     "files": ["/etc/apache2/sites-enabled/010-more.conf"],
     "problem": "DocumentRoot /var/www/legacy is outside /home/bitrix: not checked"},
    {"docroot": "/home/bitrix/ext_www/gone.bxops.test", "server_name": ["gone.bxops.test"],
     "files": ["/etc/apache2/sites-enabled/010-more.conf"],
     "problem": "DocumentRoot /home/bitrix/ext_www/gone.bxops.test does not exist"},
]


def test_every_enabled_vhost_is_a_site_merged_by_docroot(many_sites: Path) -> None:
    assert ws.apache_sites(root=str(many_sites)) == EXPECTED_SITES


def test_detect_lists_every_site_of_the_host_wide_module(many_sites: Path) -> None:
    """Whichever site the run was given, Apache's answer lists them all (the disabled vhost is not one)."""
    for docroot in ("/home/bitrix/www", "/home/bitrix/ext_www/shop.bxops.test"):
        found = ws.detect(docroot, root=str(many_sites))
        assert found["kind"] == "nginx+apache_mod_php"
        assert found["apache"]["sites"] == EXPECTED_SITES
    assert "off.bxops.test" not in str(EXPECTED_SITES)


def test_a_symlink_above_the_docroot_is_reported_too(many_sites: Path) -> None:
    ext = many_sites / "home/bitrix/ext_www"
    ext.rename(many_sites / "home/bitrix/ext_www.real")
    ext.symlink_to(many_sites / "home/bitrix/ext_www.real")
    problems = {s["docroot"]: s["problem"] for s in ws.apache_sites(root=str(many_sites))}
    assert problems["/home/bitrix/ext_www/shop.bxops.test"] == (
        "DocumentRoot /home/bitrix/ext_www/shop.bxops.test goes through the symlink /home/bitrix/ext_www: "
        "not followed, not checked")
    assert problems["/home/bitrix/www"] is None


def test_another_sites_root_is_honoured(many_sites: Path) -> None:
    problems = {s["docroot"]: s["problem"] for s in ws.apache_sites(root=str(many_sites), sites_root="/var/www")}
    assert problems["/var/www/legacy"] is None
    assert problems["/home/bitrix/www"] == "DocumentRoot /home/bitrix/www is outside /var/www: not checked"


def test_nothing_under_a_docroot_is_opened_or_listed(many_sites: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the configuration is read; under the docroots (and the symlink's target) nothing is opened,
    listed or stat'ed through a link."""
    touched: list[str] = []
    homes = (str(many_sites / "home"), str(many_sites / "srv"), str(many_sites / "var"))
    real_open, real_scandir, real_listdir, real_stat = open, os.scandir, os.listdir, os.stat

    def spy(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(path: Any, *args: Any, **kwargs: Any) -> Any:
            if str(path).startswith(homes):
                touched.append(str(path))
            return real(path, *args, **kwargs)
        return wrapped

    monkeypatch.setattr("builtins.open", spy(real_open))
    monkeypatch.setattr(os, "scandir", spy(real_scandir))
    monkeypatch.setattr(os, "listdir", spy(real_listdir))
    monkeypatch.setattr(os, "stat", spy(real_stat))
    sites = ws.apache_sites(root=str(many_sites))
    assert len(sites) == 6
    assert touched == []
