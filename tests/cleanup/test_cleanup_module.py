"""bitrix_cleanup on a small tree: what each category removes and what it must never touch."""
from __future__ import annotations

import os
import time
from pathlib import Path

import conftest  # noqa: F401  (import path)
import pytest
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_cleanup as cleanup

NOW = time.time()
HOUR, DAY = 3600, 86400


def _write(root: Path, rel: str, data: bytes = b"x", age: float = 10 * DAY) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (NOW - age, NOW - age))
    return path


def _bxtemp(root: Path, expiry: float, age: float) -> str:
    rel = "upload/tmp/BXTEMP-" + time.strftime("%Y-%m-%d/%H", time.localtime(expiry))
    _write(root, f"{rel}/1c_catalog/import.xml", b"<x/>", age)
    return rel


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    w = tmp_path / "www"
    _write(w, "bitrix/cache/s1/news/ab/cached.php", b"12345")
    _write(w, "bitrix/managed_cache/MYSQL/b_option/1.php", b"123")
    _write(w, "bitrix/html_pages/.enabled", b"", 100 * DAY)
    _write(w, "bitrix/html_pages/.config.php", b"<? return []; ?>", 100 * DAY)
    _write(w, "bitrix/html_pages/.size", b"<? $size = 10; ?>", 100 * DAY)
    _write(w, "bitrix/html_pages/localhost/index@.html", b"<html>1</html>")
    _write(w, "bitrix/html_pages/localhost/news/index@.html", b"<html>2</html>")
    _write(w, "bitrix/html_pages/localhost/keep.txt", b"not a cached page")
    _write(w, "bitrix/tmp/cacert.pem", b"CERT", 30 * DAY)  # idle: no longer in use
    _write(w, "bitrix/tmp/openssl.cnf", b"CNF", 10)  # read a moment ago: in use
    _write(w, "bitrix/tmp/old.tmp", b"old", 2 * DAY)
    _write(w, "bitrix/tmp/fresh.tmp", b"fresh", 60)
    _write(w, "upload/tmp/old.tmp", b"o", 3 * DAY)
    _write(w, "upload/tmp/young.tmp", b"y", 2 * HOUR)
    _write(w, "upload/resize_cache/iblock/1/80_80_1/a.jpg", b"thumb")
    for i, days in enumerate((1, 3, 8, 40, 50)):
        _write(w, f"bitrix/backup/site_{i}.tar.gz", b"b" * 10, days * DAY)
    _write(w, "bitrix/backup/site_3.tar.gz.1", b"p" * 5, 40 * DAY)
    _write(w, "bitrix/backup/.htaccess", b"Deny from all", 400 * DAY)
    _write(w, "logs/app.log", b"live", 100 * DAY)
    _write(w, "logs/app.log.1", b"r1", 2 * DAY)
    _write(w, "logs/app.log.2.gz", b"r2", 30 * DAY)
    return w


def _params(site: Path, **extra):
    return {"docroot": str(site), "log_dirs": ["logs"], **extra}


def test_each_category_removes_only_what_it_should(site: Path):
    expired = _bxtemp(site, NOW - 5 * HOUR, 2 * DAY)
    live = _bxtemp(site, NOW + 5 * HOUR, 2 * DAY)
    expired_but_busy = _bxtemp(site, NOW - 30 * HOUR, 60)  # written a minute ago: an exchange still running
    result = cleanup.run(_params(site), "upload", check=False)
    cats = result["categories"]
    assert not list((site / "bitrix/cache").rglob("*.php")) and (site / "bitrix/cache").is_dir()
    assert cats["cache"] == {"files": 1, "bytes": 5, "dirs": 3, "kept_in_use": 0}
    # composite: flags untouched, only *.html gone
    for name in (".enabled", ".config.php", ".size"):
        assert (site / "bitrix/html_pages" / name).exists()
    assert cats["html_pages"]["files"] == 2
    assert (site / "bitrix/html_pages/localhost/keep.txt").exists()
    assert not (site / "bitrix/html_pages/localhost/news").exists()
    # bitrix/tmp: runtime files kept while in use
    assert not (site / "bitrix/tmp/cacert.pem").exists()
    assert (site / "bitrix/tmp/openssl.cnf").exists() and (site / "bitrix/tmp/fresh.tmp").exists()
    assert not (site / "bitrix/tmp/old.tmp").exists()
    # upload/tmp: by encoded expiry, by age, never in use
    assert not (site / expired).exists() and (site / live).exists() and (site / expired_but_busy).exists()
    assert not (site / "upload/tmp/old.tmp").exists() and (site / "upload/tmp/young.tmp").exists()
    assert cats["upload_tmp"]["bxtemp_removed"] == 1
    # resize_cache is opt-in
    assert (site / "upload/resize_cache/iblock/1/80_80_1/a.jpg").exists()
    # backups: the 3 newest, and anything younger than 30 days, stay; multi-part sets go together
    left = sorted(p.name for p in (site / "bitrix/backup").iterdir())
    assert left == [".htaccess", "site_0.tar.gz", "site_1.tar.gz", "site_2.tar.gz"]
    # logs: only old rotated ones
    assert sorted(p.name for p in (site / "logs").iterdir()) == ["app.log", "app.log.1"]
    # the report adds up, and a second run has nothing left to do
    assert result["total"]["files"] == sum(c["files"] for c in cats.values())
    assert cleanup.run(_params(site), "upload", check=False)["changed"] is False


def test_check_mode_reports_and_touches_nothing(site: Path):
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()}
    check = cleanup.run(_params(site, categories=cleanup.KNOWN), "upload", check=True)
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()}
    assert before == after
    assert check["changed"] is True
    real = cleanup.run(_params(site, categories=cleanup.KNOWN), "upload", check=False)
    for name, cat in check["categories"].items():
        done = real["categories"][name]
        assert (cat["files"], cat["bytes"]) == (done["files"], done["bytes"]), name


def test_open_file_is_in_use(site: Path):
    _write(site, "upload/tmp/exchange/part.xml", b"<x/>", 5 * DAY)
    with open(site / "upload/tmp/exchange/part.xml", "rb"):
        cleanup.run(_params(site, categories=["upload_tmp"]), "upload", check=False)
        assert (site / "upload/tmp/exchange/part.xml").exists()
    cleanup.run(_params(site, categories=["upload_tmp"]), "upload", check=False)
    assert not (site / "upload/tmp/exchange").exists()


def test_unknown_category_refused_before_any_change(site: Path):
    with pytest.raises(cleanup.CleanupError, match="unknown cleanup categories: everything"):
        cleanup.run(_params(site, categories=["cache", "everything"]), "upload", check=False)
    assert (site / "bitrix/cache/s1/news/ab/cached.php").exists()
