"""The scheduled runner (roles/backup/files/bxops_backup_scheduled.py) and what the restore drill relies on
in bitrix_backup: a corrupted archive refused before anything changes, a backup of another docroot."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import current_identity
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_backup as bb
from test_bitrix_backup_module import EXCLUDE, Stub, create, state, write

PROJECT = Path(__file__).resolve().parents[2]
RUNNER = PROJECT / "roles/backup/files/bxops_backup_scheduled.py"
#: Where common's lock tasks and the runner keep the lock of /home/bitrix/www (written by hand).
def lock_file(state_dir: Path) -> Path:
    return state_dir / "locks" / "_home_bitrix_www.lock"


pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar")


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    www = tmp_path / "www"
    write(www, "bitrix/modules/main/classes/general/version.php", b'<?php define("SM_VERSION", "23.900.550");')
    write(www, "index.php", b"<?php echo 1;")
    write(www, "bitrix/.settings.php", b"<?php return [];", 0o640)
    write(www, "upload/iblock/a/b.jpg", os.urandom(5000))
    write(www, "bitrix/cache/s1/x.php", b"cached")
    write(www, "upload/tmp/BXTEMP/x.xml", b"<x/>")
    (www / "link.php").symlink_to("index.php")
    return www


def corrupt(archive: Path) -> None:
    """Flip 64 bytes in the middle of the file, keeping its size (what bit rot does)."""
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + 64, len(data))):
        data[i] ^= 0xFF
    archive.write_bytes(bytes(data))


def test_restore_refuses_a_corrupted_archive_before_changing_anything(site: Path, tmp_path: Path) -> None:
    backup = create(site, tmp_path / "backups")["backup"]
    corrupt(Path(backup["files_archive"]))
    write(site, "added.php", b"new since the backup")
    (site / "index.php").write_bytes(b"<?php echo 2;")
    before = state(site, EXCLUDE)
    with pytest.raises(bb.BackupError, match=r"files\.tar\.gz is corrupted"):
        bb.do_restore(Stub(quarantine_dir=str(tmp_path / "q")), str(site), str(tmp_path / "backups"))
    assert state(site, EXCLUDE) == before
    assert not (tmp_path / "q").exists()


def test_verify_names_a_corrupted_archive(site: Path, tmp_path: Path) -> None:
    backup = create(site, tmp_path / "backups")["backup"]
    corrupt(Path(backup["files_archive"]))
    verified = bb.do_verify(Stub(), str(site), str(tmp_path / "backups"))
    assert verified["failed"]
    assert verified["mismatches"][0] == {
        "path": "files.tar.gz", "problem": "archive checksum differs from backup.json (corrupted)"
    }


def test_a_backup_of_another_docroot_restores_only_when_named(site: Path, tmp_path: Path) -> None:
    expected = state(site, EXCLUDE)
    create(site, tmp_path / "backups")
    staging = tmp_path / "staging"
    shutil.copytree(site, staging, symlinks=True)
    (staging / "index.php").write_bytes(b"<?php echo 'staging';")
    write(staging, "staging-only.php", b"x")
    with pytest.raises(bb.BackupError, match="no complete backup of"):
        bb.do_restore(Stub(quarantine_dir=str(tmp_path / "q")), str(staging), str(tmp_path / "backups"))
    verified = bb.do_verify(Stub(source_docroot=str(site)), str(staging), str(tmp_path / "backups"))
    assert verified["mismatch_count"] == 0
    bb.do_restore(
        Stub(quarantine_dir=str(tmp_path / "q"), source_docroot=str(site)), str(staging), str(tmp_path / "backups")
    )
    restored = state(staging, EXCLUDE)
    # the copy's own folder mtimes differ where copytree made them; files, owners, modes and content must match
    assert {k: v for k, v in restored.items() if v[4]} == {k: v for k, v in expected.items() if v[4]}
    assert set(restored) == set(expected)


def test_restore_keeps_the_target_s_own_settings_files(site: Path, tmp_path: Path) -> None:
    expected = state(site, EXCLUDE)
    create(site, tmp_path / "backups")
    staging = tmp_path / "staging"
    shutil.copytree(site, staging, symlinks=True)
    write(staging, "bitrix/.settings.php", b"<?php return ['staging' => 1];", 0o600, mtime=1_600_000_000.25)
    mine = state(staging, EXCLUDE)["bitrix/.settings.php"]
    (staging / "index.php").write_bytes(b"<?php echo 'staging';")
    result = bb.do_restore(
        Stub(quarantine_dir=str(tmp_path / "q"), source_docroot=str(site),
             keep_files=["bitrix/.settings.php", "bitrix/php_interface/dbconn.php"]),
        str(staging), str(tmp_path / "backups"),
    )
    after = state(staging, EXCLUDE)
    assert after["bitrix/.settings.php"] == mine
    assert (staging / "bitrix/.settings.php").read_bytes() == b"<?php return ['staging' => 1];"
    assert after["index.php"] == expected["index.php"]
    assert result["restore"]["kept_files"] == ["bitrix/.settings.php"]
    assert not (staging / "bitrix/php_interface/dbconn.php").exists()


def test_restore_refuses_a_kept_file_that_is_a_symlink_before_changing_anything(site: Path, tmp_path: Path) -> None:
    create(site, tmp_path / "backups")
    secret = tmp_path / "secret.txt"
    secret.write_text("root's")
    (site / "bitrix/.settings.php").unlink()
    (site / "bitrix/.settings.php").symlink_to(secret)
    write(site, "added.php", b"new")
    before = state(site, EXCLUDE)
    with pytest.raises(bb.BackupError, match=r"keep_files: .* is not a regular file"):
        bb.do_restore(Stub(quarantine_dir=str(tmp_path / "q"), keep_files=["bitrix/.settings.php"]),
                      str(site), str(tmp_path / "backups"))
    assert state(site, EXCLUDE) == before


# ---------------------------------------------------------------- the scheduled runner


def config(site: Path, tmp_path: Path, **extra: object) -> Path:
    content = {
        "docroot": str(site),
        "backup_dir": str(tmp_path / "backups"),
        "exclude": EXCLUDE,
        "compression": "gzip",
        "include_db": False,
        "db": {"host": "", "database": "", "user": "", "password": ""},
        "keep_count": 2,
        "keep_days": 14,
        "lock": {"state_dir": str(tmp_path), "docroot": "/home/bitrix/www", "stale_after": 3600},
        "status_path": str(tmp_path / "status" / "backup-site.json"),
        "offsite": None,
    }
    content.update(extra)
    path = tmp_path / "scheduled.json"
    path.write_text(json.dumps(content))
    return path


def run_scheduled(path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the runner as the timer's service does, on a Python where Ansible is not importable (a managed
    host has only the deployed collection files)."""
    no_ansible = path.parent / "no-ansible"
    (no_ansible / "ansible").mkdir(parents=True, exist_ok=True)
    (no_ansible / "ansible" / "__init__.py").write_text("raise ImportError('no Ansible on a managed host')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(no_ansible), str(PROJECT / ".collections")]))
    return subprocess.run(
        [sys.executable, str(RUNNER), str(path), *args], env=env, capture_output=True, text=True, check=False
    )


def status(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "status" / "backup-site.json").read_text())


def backups(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "backups").iterdir())


def test_scheduled_run_backs_up_keeps_count_and_records_the_last_good_backup(site: Path, tmp_path: Path) -> None:
    path = config(site, tmp_path)
    for _ in range(3):
        done = run_scheduled(path)
        assert done.returncode == 0, done.stderr
        time.sleep(1.1)  # one backup id per second
    left = backups(tmp_path)
    assert len(left) == 2  # keep_count 2
    record = status(tmp_path)
    newest = tmp_path / "backups" / left[-1]
    size = sum(f.stat().st_size for f in newest.iterdir() if f.name != "backup.json")  # archive, dump, manifest
    assert record["schema"] == "bxops.backup-status/1"
    assert record["last_good"]["id"] == left[-1]
    assert record["last_good"]["size_bytes"] == size
    assert abs(record["last_good"]["finished_ts"] - time.time()) < 30
    assert record["last_run"]["result"] == "ok"
    assert oct((tmp_path / "status" / "backup-site.json").stat().st_mode & 0o777) == "0o644"
    assert not (lock_file(tmp_path)).exists(), "the lock is released"
    # the backup restores the site (the runner made a real backup, not a record of one)
    verified = bb.do_verify(Stub(), str(site), str(tmp_path / "backups"))
    assert verified["mismatch_count"] == 0 and verified["entries"] > 5


def test_scheduled_run_skips_a_site_locked_by_a_live_run_and_keeps_the_last_good(site: Path, tmp_path: Path) -> None:
    path = config(site, tmp_path)
    assert run_scheduled(path).returncode == 0
    good = status(tmp_path)["last_good"]
    lock = lock_file(tmp_path)
    holder = {"owner": "run-update-1", "purpose": "update", "since": int(time.time()), "holder": current_identity()}
    lock.write_text(json.dumps(holder))
    time.sleep(1.1)
    done = run_scheduled(path)
    assert done.returncode == 75
    record = status(tmp_path)
    assert record["last_run"]["result"] == "skipped" and "run-update-1" in record["last_run"]["msg"]
    assert record["last_good"] == good
    assert len(backups(tmp_path)) == 1
    assert json.loads(lock.read_text()) == holder, "another run's lock is left alone"


def test_scheduled_run_that_fails_says_so_and_keeps_the_last_good(site: Path, tmp_path: Path) -> None:
    path = config(site, tmp_path)
    assert run_scheduled(path).returncode == 0
    good = status(tmp_path)["last_good"]
    shutil.rmtree(site / "bitrix" / "modules")  # no longer a Bitrix site
    done = run_scheduled(path)
    assert done.returncode == 1
    record = status(tmp_path)
    assert record["last_run"]["result"] == "failed" and record["last_run"]["msg"]
    assert record["last_good"] == good


@pytest.mark.skipif(shutil.which("restic") is None, reason="needs restic (apt install restic)")
def test_scheduled_run_copies_the_backup_to_restic_and_restic_restores_it(site: Path, tmp_path: Path) -> None:
    password = tmp_path / "restic-password"
    password.write_text("Offsite-pw-test")
    password.chmod(0o600)
    repo = tmp_path / "repo"
    env = dict(os.environ, RESTIC_REPOSITORY=str(repo), RESTIC_PASSWORD_FILE=str(password))
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    offsite = {
        "repository": str(repo), "repository_shown": str(repo), "password_file": str(password), "host": "prod1",
        "tags": ["bxops", "site:test"], "keep_last": 1, "keep_days": 0, "cache_dir": str(tmp_path / "cache"),
    }
    path = config(site, tmp_path, offsite=offsite)
    for _ in range(2):
        done = run_scheduled(path)
        assert done.returncode == 0, done.stderr
        time.sleep(1.1)
    assert "Offsite-pw-test" not in done.stdout + done.stderr
    snapshots = json.loads(subprocess.run(
        ["restic", "snapshots", "--json"], env=env, check=True, capture_output=True, text=True
    ).stdout)
    assert len(snapshots) == 1  # keep_last 1
    assert snapshots[0]["hostname"] == "prod1" and sorted(snapshots[0]["tags"]) == ["bxops", "site:test"]
    record = status(tmp_path)
    assert record["last_good"]["offsite"]["snapshot"] in (snapshots[0]["short_id"], snapshots[0]["id"])
    subprocess.run(["restic", "restore", "latest", "--target", str(tmp_path / "out")], env=env, check=True,
                   capture_output=True)
    newest = Path(record["last_good"]["path"])
    restored = tmp_path / "out" / str(newest).lstrip("/")
    for name in os.listdir(newest):
        assert hashlib.sha256((restored / name).read_bytes()).hexdigest() == hashlib.sha256(
            (newest / name).read_bytes()
        ).hexdigest(), name


MODULE = PROJECT / "plugins/modules/bitrix_site_lock.py"


def module_lock(tmp_path: Path, owner: str, **params: object) -> dict:
    """bitrix_site_lock as common's lock tasks call it (docroot and state folder, not a path)."""
    args = tmp_path / f"lock-{owner}.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(
        docroot="/home/bitrix/www", state_dir=str(tmp_path), owner=owner, purpose="update", **params)}))
    done = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=str(PROJECT / ".collections")))
    result: dict = json.loads(done.stdout)
    return result


def test_a_lock_taken_by_the_module_makes_the_scheduled_run_skip(site: Path, tmp_path: Path) -> None:
    """Expected: common's lock (bitrix_site_lock, held by a live runner: this test's process) is found by the
    scheduled runner at the same path; it skips (exit 75, no backup) and leaves the lock as it was."""
    me = current_identity()
    taken = module_lock(tmp_path, "run-update-7", holder=me)
    assert taken.get("changed") is True and taken["path"] == str(lock_file(tmp_path)), taken
    before = lock_file(tmp_path).read_text()
    done = run_scheduled(config(site, tmp_path))
    assert done.returncode == 75, done.stderr
    record = status(tmp_path)
    assert record["last_run"]["result"] == "skipped"
    assert "site is locked by run run-update-7 (update)" in record["last_run"]["msg"]
    assert not (tmp_path / "backups").exists() or backups(tmp_path) == []
    assert lock_file(tmp_path).read_text() == before
    assert module_lock(tmp_path, "run-update-7", state="absent")["changed"] is True
    assert not lock_file(tmp_path).exists()


def test_a_scheduled_run_in_progress_refuses_the_module(site: Path, tmp_path: Path) -> None:
    """Expected: while the scheduled runner backs up (stopped mid-run here), bitrix_site_lock for the same
    site is refused naming the scheduled run and its live process; once the runner ends, the lock is gone
    and the module takes it."""
    for i in range(8):  # enough data that the backup takes a while
        write(site, f"upload/big/{i}.bin", os.urandom(4 << 20))
    path = config(site, tmp_path)
    no_ansible = tmp_path / "no-ansible"
    (no_ansible / "ansible").mkdir(parents=True, exist_ok=True)
    (no_ansible / "ansible" / "__init__.py").write_text("raise ImportError('no Ansible on a managed host')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(no_ansible), str(PROJECT / ".collections")]))
    runner = subprocess.Popen([sys.executable, str(RUNNER), str(path)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while not lock_file(tmp_path).exists() and runner.poll() is None and time.time() < deadline:
            time.sleep(0.001)
        os.kill(runner.pid, signal.SIGSTOP)
        assert lock_file(tmp_path).exists(), "the runner took no lock (or finished first)"
        refused = module_lock(tmp_path, "run-update-8", holder=current_identity())
        assert refused.get("failed") is True, refused
        assert refused["msg"].startswith("site is locked by run scheduled-")
        assert "(backup (scheduled))" in refused["msg"]
        assert f"its runner (pid {runner.pid}) is alive" in refused["msg"]
        assert refused["holder"]["holder"]["pid"] == runner.pid
    finally:
        os.kill(runner.pid, signal.SIGCONT)
        _out, err = runner.communicate(timeout=300)
    assert runner.returncode == 0, err
    assert not lock_file(tmp_path).exists()
    taken = module_lock(tmp_path, "run-update-8", holder=current_identity())
    assert taken.get("changed") is True and taken["holder"]["owner"] == "run-update-8"


DRILL_SMOKE = """
- name: The restore drill's smoke test
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The role's own tasks (roles/backup/tasks/drill_run.yml)
      block:
        - name: The role's own tasks
          ansible.builtin.include_tasks: smoke.yml
      rescue:
        - name: Keep the refusal
          ansible.builtin.copy:
            content: "{{ ansible_failed_result.msg }}"
            dest: "{out}/refused.txt"
            mode: "0600"
    - name: Keep what was tested
      ansible.builtin.copy:
        content: "{{ __backup_drill_smoke | to_json }}"
        dest: "{out}/smoke.json"
        mode: "0600"
"""


def drill_smoke(tmp_path: Path, base_url: str, urls: list[dict]) -> tuple[str | None, dict]:
    """Run the drill's smoke-test tasks (taken from drill_run.yml) against base_url: (refusal or None, result)."""
    import yaml

    tasks = [t for t in yaml.safe_load((PROJECT / "roles/backup/tasks/drill_run.yml").read_text())
             if str(t["name"]).startswith(("Run the smoke test", "Fail when a smoke-test page failed"))]
    assert len(tasks) == 2
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "smoke.yml").write_text(yaml.safe_dump(tasks))
    (tmp_path / "play.yml").write_text(DRILL_SMOKE.replace("{out}", str(tmp_path)))
    extra = {"backup_drill_smoke_urls": urls, "backup_drill_smoke_base_url": base_url,
             "bitrix_domains": ["shop.example.test"]}
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                           "-e", json.dumps(extra), str(tmp_path / "play.yml")], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    refused = tmp_path / "refused.txt"
    return (refused.read_text() if refused.exists() else None), json.loads((tmp_path / "smoke.json").read_text())


def test_the_drills_smoke_test_is_the_collections_and_names_a_failed_page(tmp_path: Path) -> None:
    """Expected (written by hand): a page with its marker passes; a missing marker and a 404 fail the drill,
    the message naming each path and why (bitrix_smoke_test's reasons); the Host header is bitrix_domains[0]."""
    import http.server
    import threading

    seen: list[str] = []

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(str(self.headers.get("Host")))
            body = b"<html>Bitrix shop</html>" if self.path in ("/", "/catalog/") else b"not here"
            self.send_response(200 if self.path in ("/", "/catalog/") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        refused, result = drill_smoke(tmp_path / "ok", base, [{"path": "/", "status": 200, "marker": "Bitrix shop"}])
        assert refused is None and result["passed"] is True
        assert [r["path"] for r in result["results"]] == ["/"]
        assert seen and set(seen) == {"shop.example.test"}
        refused, result = drill_smoke(tmp_path / "bad", base, [
            {"path": "/catalog/", "status": 200, "marker": "Checkout"},
            {"path": "/gone/", "status": 200, "marker": ""},
        ])
    finally:
        server.shutdown()
    assert refused is not None and refused.startswith("smoke test after restoring production's backup failed:")
    assert "/catalog/: " in refused and "marker 'Checkout' not found" in refused
    assert "/gone/: " in refused and "status 404, expected 200" in refused
