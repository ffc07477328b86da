"""bitrix_cleanup on a small tree: what each category removes and what it must never touch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
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


def proc_view(folder: Path, pids: list[int]) -> str:
    """A /proc holding only the given processes (links to their real /proc entries).

    On this build machine the session's own PID 1 keeps its descriptors from every other process,
    root included, so the real /proc makes a strict cleanup refuse; the tests look at their own processes.
    """
    folder.mkdir(exist_ok=True)
    for pid in pids:
        link = folder / str(pid)
        if not link.is_symlink():
            link.symlink_to(f"/proc/{pid}")
    return str(folder)


@pytest.fixture()
def proc(tmp_path: Path) -> str:
    return proc_view(tmp_path / "proc", [os.getpid()])


def clean(site: Path, proc_root: str, upload_dir: str = "upload", check: bool = False, **extra):
    return cleanup.run(_params(site, **extra), upload_dir, check=check, proc_root=proc_root)


def snapshot(root: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every entry under root: mode, owner, size and content (links by target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        out[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_size, data)
    return out


@pytest.fixture()
def sentinel(tmp_path: Path) -> Path:
    """A folder standing for /etc: old files every category would take if it got there."""
    etc = tmp_path / "etc"
    _write(etc, "passwd", b"root:x:0:0", 400 * DAY)
    _write(etc, "app.log.1", b"rotated", 400 * DAY)
    _write(etc, "site_0.tar.gz", b"archive", 400 * DAY)
    _write(etc, "nested/old.tmp", b"o", 400 * DAY)
    _write(etc, "index@.html", b"<html/>", 400 * DAY)
    _write(etc, "BXTEMP-2020-01-01/00/x.xml", b"<x/>", 400 * DAY)
    return etc


def test_each_category_removes_only_what_it_should(site: Path, proc: str):
    expired = _bxtemp(site, NOW - 5 * HOUR, 2 * DAY)
    live = _bxtemp(site, NOW + 5 * HOUR, 2 * DAY)
    expired_but_busy = _bxtemp(site, NOW - 30 * HOUR, 60)  # written a minute ago: an exchange still running
    result = clean(site, proc)
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
    assert clean(site, proc)["changed"] is False
    assert result["refused"] == []


def test_check_mode_reports_and_touches_nothing(site: Path, proc: str):
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()}
    check = clean(site, proc, check=True, categories=cleanup.KNOWN)
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()}
    assert before == after
    assert check["changed"] is True
    real = clean(site, proc, categories=cleanup.KNOWN)
    for name, cat in check["categories"].items():
        done = real["categories"][name]
        assert (cat["files"], cat["bytes"]) == (done["files"], done["bytes"]), name


def test_open_file_is_in_use(site: Path, proc: str):
    _write(site, "upload/tmp/exchange/part.xml", b"<x/>", 5 * DAY)
    with open(site / "upload/tmp/exchange/part.xml", "rb"):
        clean(site, proc, categories=["upload_tmp"])
        assert (site / "upload/tmp/exchange/part.xml").exists()
    clean(site, proc, categories=["upload_tmp"])
    assert not (site / "upload/tmp/exchange").exists()


def test_unknown_category_refused_before_any_change(site: Path):
    with pytest.raises(cleanup.CleanupError, match="unknown cleanup categories: everything"):
        cleanup.run(_params(site, categories=["cache", "everything"]), "upload", check=False)
    assert (site / "bitrix/cache/s1/news/ab/cached.php").exists()


# --- the site is untrusted (issue 11.3, 11.4): nothing reached through a symlink, nothing outside


@pytest.mark.parametrize(
    ("link", "category", "named"),
    [
        ("bitrix/cache", "cache", "bitrix/cache"),
        ("bitrix/tmp", "bitrix_tmp", "bitrix/tmp"),
        ("bitrix/html_pages", "html_pages", "bitrix/html_pages"),
        ("upload/tmp", "upload_tmp", "upload/tmp"),
        ("upload/resize_cache", "resize_cache", "upload/resize_cache"),
        ("bitrix/backup", "backups", "bitrix/backup"),
        ("logs", "logs", "logs"),
    ],
)
def test_symlinked_category_root_is_refused_and_the_rest_still_runs(
    site: Path, sentinel: Path, proc: str, link: str, category: str, named: str
):
    shutil.rmtree(site / link)
    (site / link).symlink_to(sentinel)
    before = snapshot(sentinel)
    result = clean(site, proc, categories=[category, "managed_cache"])
    assert snapshot(sentinel) == before
    assert (site / link).is_symlink()
    # one line naming the path, per category; the other category did its work
    assert len(result["refused"]) == 1
    line = result["refused"][0]
    assert line.startswith(f"{category}: refusing") and f"{site}/{named}" in line and "symlink" in line
    assert "\n" not in line
    assert result["categories"][category]["refused"]
    assert result["categories"]["managed_cache"]["files"] == 1
    assert not (site / "bitrix/managed_cache/MYSQL/b_option/1.php").exists()


def test_symlinked_parent_of_every_category_is_refused(site: Path, sentinel: Path, proc: str):
    # the whole bitrix/ folder swapped for a link to a tree shaped like bitrix/
    (sentinel / "cache").mkdir()
    _write(sentinel, "cache/s1/a.php", b"x", 400 * DAY)
    before = snapshot(sentinel)
    shutil.rmtree(site / "bitrix")
    (site / "bitrix").symlink_to(sentinel)
    result = clean(site, proc, categories=["cache", "bitrix_tmp", "html_pages", "backups", "upload_tmp"])
    assert snapshot(sentinel) == before
    assert sorted(r.split(":")[0] for r in result["refused"]) == ["backups", "bitrix_tmp", "cache", "html_pages"]
    assert all(f"{site}/bitrix is a symlink" in r for r in result["refused"])
    assert not (site / "upload/tmp/old.tmp").exists()  # upload_tmp unaffected


def test_symlinked_upload_root_is_refused(site: Path, sentinel: Path, proc: str):
    (sentinel / "tmp").mkdir()
    _write(sentinel, "tmp/old.tmp", b"o", 400 * DAY)
    _write(sentinel, "resize_cache/1/a.jpg", b"t", 400 * DAY)
    before = snapshot(sentinel)
    shutil.rmtree(site / "upload")
    (site / "upload").symlink_to(sentinel)
    result = clean(site, proc, categories=["upload_tmp", "resize_cache"])
    assert snapshot(sentinel) == before
    assert [r.split(":")[0] for r in result["refused"]] == ["upload_tmp", "resize_cache"]
    assert all("upload root (main.upload_dir)" in r and f"{site}/upload" in r for r in result["refused"])


def test_symlinks_inside_a_category_are_removed_as_links(site: Path, sentinel: Path, proc: str):
    before = snapshot(sentinel)
    (site / "bitrix/cache/s1/news/linked_dir").symlink_to(sentinel)
    (site / "bitrix/cache/top_link").symlink_to(sentinel / "passwd")
    (site / "upload/tmp/stale_link").symlink_to(sentinel)
    os.utime(site / "upload/tmp/stale_link", (NOW - 3 * DAY, NOW - 3 * DAY), follow_symlinks=False)
    result = clean(site, proc, categories=["cache", "upload_tmp"])
    assert snapshot(sentinel) == before
    assert not os.path.lexists(site / "bitrix/cache/top_link")
    assert not os.path.lexists(site / "bitrix/cache/s1")
    assert not os.path.lexists(site / "upload/tmp/stale_link")
    assert result["categories"]["cache"]["files"] == 3  # cached.php and the two links
    assert result["refused"] == []


@pytest.mark.parametrize("value", ["../outside", "upload/../../outside", "up\nload", "/../outside/"])
def test_upload_dir_that_leaves_the_docroot_is_refused(site: Path, tmp_path: Path, proc: str, value: str):
    _write(tmp_path, "outside/tmp/old.tmp", b"o", 400 * DAY)
    _write(tmp_path, "outside/resize_cache/a.jpg", b"t", 400 * DAY)
    before = snapshot(tmp_path / "outside")
    result = cleanup.run(_params(site, categories=["upload_tmp", "resize_cache", "cache"]), value,
                         check=False, proc_root=proc)
    assert snapshot(tmp_path / "outside") == before
    assert [r.split(":")[0] for r in result["refused"]] == ["upload_tmp", "resize_cache"]
    assert all("main.upload_dir=" in r for r in result["refused"])
    assert result["categories"]["cache"]["files"] == 1


def test_other_upload_dir_is_followed(site: Path, proc: str):
    _write(site, "files/up/tmp/old.tmp", b"o", 3 * DAY)
    result = clean(site, proc, upload_dir="/files/up/", categories=["upload_tmp"])
    assert not (site / "files/up/tmp/old.tmp").exists() and (site / "upload/tmp/old.tmp").exists()
    assert result["upload_dir"] == "files/up"


def test_absolute_log_folder_is_trusted_config_but_not_inside_the_docroot(site: Path, tmp_path: Path, proc: str):
    _write(tmp_path, "var/log/real/php.log.3.gz", b"r", 30 * DAY)
    (tmp_path / "var/log/php").symlink_to(tmp_path / "var/log/real")  # the engineer's own link: trusted
    result = clean(site, proc, categories=["logs"], log_dirs=[str(tmp_path / "var/log/php"), f"{site}/logs"])
    assert not (tmp_path / "var/log/real/php.log.3.gz").exists()
    assert sorted(p.name for p in (site / "logs").iterdir()) == ["app.log", "app.log.1"]
    assert result["refused"] == []
    # inside the docroot an absolute folder is still site ground
    shutil.rmtree(site / "logs")
    (site / "logs").symlink_to(tmp_path / "var/log/real")
    _write(tmp_path, "var/log/real/php.log.4.gz", b"r", 30 * DAY)
    result = clean(site, proc, categories=["logs"], log_dirs=[f"{site}/logs"])
    assert (tmp_path / "var/log/real/php.log.4.gz").exists()
    assert result["refused"] and f"{site}/logs" in result["refused"][0]


# --- in use (issue 12.6): a file another user's process holds is kept; not knowing refuses


class Holder:
    """A child process running as uid 65534 holding a file open (the site user's PHP worker)."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        wait_end, self.write_end = os.pipe()
        ready_r, ready_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            try:
                os.close(self.write_end)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                os.write(ready_w, b"1")
                os.read(wait_end, 1)  # never written: wait until the parent kills us
            finally:
                os._exit(0)
        os.close(fd)
        os.close(wait_end)
        os.close(ready_w)
        assert os.read(ready_r, 1) == b"1"
        os.close(ready_r)
        with open(f"/proc/{self.pid}/status") as status:
            assert "Uid:\t65534" in status.read()

    def stop(self) -> None:
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.write_end)


@pytest.fixture()
def held_by_site_user(site: Path) -> Iterator[tuple[Path, Holder]]:
    path = _write(site, "upload/tmp/exchange/part.xml", b"<x/>", 5 * DAY)
    holder = Holder(path)
    try:
        yield path, holder
    finally:
        holder.stop()


def test_file_held_by_another_users_process_is_kept(site: Path, tmp_path: Path, held_by_site_user):
    path, holder = held_by_site_user
    proc_root = proc_view(tmp_path / "proc", [os.getpid(), holder.pid])
    result = clean(site, proc_root, categories=["upload_tmp"])
    assert path.exists()
    assert result["categories"]["upload_tmp"]["kept_in_use"] == 1
    assert not (site / "upload/tmp/old.tmp").exists()


RUN_WITHOUT_PTRACE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_cleanup as cleanup
params = json.loads(sys.argv[2])
print(json.dumps(cleanup.run(params, "upload", check=False, proc_root=sys.argv[3])))
"""


def run_without_ptrace(site: Path, proc_root: str, **extra) -> dict:
    """The module run by root lacking CAP_SYS_PTRACE (a container's root): others' fds are unreadable."""
    collections = str(Path(__file__).resolve().parents[2] / ".collections")
    params = json.dumps(_params(site, categories=["upload_tmp", "cache"], **extra))
    out = subprocess.run(
        ["setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace",
         sys.executable, "-c", RUN_WITHOUT_PTRACE, collections, params, proc_root],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_cleanup_refuses_when_it_cannot_read_open_files(site: Path, tmp_path: Path, held_by_site_user):
    path, holder = held_by_site_user
    proc_root = proc_view(tmp_path / "proc", [holder.pid])
    result = run_without_ptrace(site, proc_root)
    assert path.exists() and (site / "upload/tmp/old.tmp").exists()
    assert result["refused"] == [
        f"upload_tmp: cannot read {proc_root}/{holder.pid}/fd (Permission denied): cannot tell which files "
        "are in use; run as root with CAP_SYS_PTRACE (or set in_use_check=best_effort)"
    ]
    assert result["categories"]["cache"]["files"] == 1  # caches do not depend on it
    # the explicit option: go on with what can be seen, and say which processes were not
    result = run_without_ptrace(site, proc_root, in_use_check="best_effort")
    assert result["refused"] == [] and not (site / "upload/tmp/old.tmp").exists()
    assert result["in_use_unreadable"] == [f"{proc_root}/{holder.pid}/fd"]


def test_process_that_exited_is_no_reason_to_refuse(site: Path, tmp_path: Path, proc: str):
    child = subprocess.Popen(["true"])
    child.wait()
    proc_view(Path(proc), [child.pid])  # its /proc entry is gone: nothing it could hold
    result = clean(site, proc, categories=["upload_tmp"])
    assert result["refused"] == [] and not (site / "upload/tmp/old.tmp").exists()
