"""A quarantine killed half-way (SIGKILL, in the window between a manifest line and its move, or
anywhere else) leaves every orphan in place or in quarantine with its manifest line; the next run
reverses the batch and a new quarantine then completes."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans
from conftest import ROOT, SqliteSource, make_db

N_ORPHANS = 120

CHILD = r"""
import sys, time
sys.path.insert(0, {tests!r}); sys.path.insert(0, {collections!r})
from conftest import SqliteSource
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans
params = {{"docroot": {docroot!r}, "quarantine_dir": {qdir!r}, "mode": "quarantine", "min_age": 0,
          "content_scan": False}}
orphans.run(params, lambda: SqliteSource({db!r}), check=False, hook=lambda n: time.sleep({pause}))
"""


def _site(tmp: Path) -> tuple[str, str, dict[str, str]]:
    docroot = tmp / "www"
    db = str(tmp / "site.db")
    conn = make_db(db)
    digests = {}
    for i in range(N_ORPHANS + 40):
        rel = f"upload/iblock/{i % 7:03x}/f{i:04d}.jpg"
        path = docroot / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(2048 + i)
        path.write_bytes(data)
        os.utime(path, (time.time() - 86400 * 3, time.time() - 86400 * 3))
        if i >= N_ORPHANS:
            conn.execute("INSERT INTO b_file (SUBDIR, FILE_NAME) VALUES (?, ?)",
                         (f"iblock/{i % 7:03x}", f"f{i:04d}.jpg"))
        digests[rel] = hashlib.sha256(data).hexdigest()
    conn.commit()
    conn.close()
    return str(docroot), db, digests


def _manifest(qdir: str) -> tuple[str, dict[str, dict]]:
    (batch,) = os.listdir(qdir)
    lines = {}
    with open(os.path.join(qdir, batch, "manifest.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):
                entry = json.loads(line)
                lines[entry["path"]] = entry
    return batch, lines


def _quarantine_killed_after(docroot: str, qdir: str, db: str, kill_after: int) -> None:
    """Start a quarantine in a child process and SIGKILL it once the manifest holds kill_after lines."""
    script = CHILD.format(tests=str(Path(__file__).parent), collections=str(ROOT / ".collections"),
                          docroot=docroot, qdir=qdir, db=db, pause=0.02)
    child = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if len(_manifest(qdir)[1]) >= kill_after:
                break
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize("kill_after", [1, 17, 60, 100])
def test_killed_quarantine_loses_nothing_and_is_reversed(tmp_path, kill_after):
    docroot, db, digests = _site(tmp_path)
    qdir = str(tmp_path / "state" / "quarantine")
    _quarantine_killed_after(docroot, qdir, db, kill_after)

    # nothing lost: every orphan is in place, or in quarantine with its manifest line
    batch, manifest = _manifest(qdir)
    assert kill_after <= len(manifest) < N_ORPHANS, "the kill did not land half-way"
    for rel, digest in digests.items():
        here = Path(docroot, rel)
        there = Path(qdir, batch, "files", rel)
        assert here.exists() != there.exists(), f"{rel}: here={here.exists()} quarantined={there.exists()}"
        if there.exists():
            assert rel in manifest and manifest[rel]["sha256"] == digest
            assert hashlib.sha256(there.read_bytes()).hexdigest() == digest
    assert json.loads(Path(qdir, batch, "batch.json").read_text())["state"] == "running"

    # check mode only reports the interrupted batch
    source = lambda: SqliteSource(db)  # noqa: E731
    base = {"docroot": docroot, "quarantine_dir": qdir, "min_age": 0, "content_scan": False}
    peek = orphans.run(dict(base, mode="report"), source, check=True)
    assert peek["recovered"] == [{"batch": batch, "would_reverse": True}]
    assert json.loads(Path(qdir, batch, "batch.json").read_text())["state"] == "running"

    # the next run reverses it: everything back in place, byte-identical
    report = orphans.run(dict(base, mode="report"), source, check=False)
    assert report["recovered"][0]["batch"] == batch and report["recovered"][0]["lost"] == []
    assert report["orphans"]["count"] == N_ORPHANS
    for rel, digest in digests.items():
        assert hashlib.sha256(Path(docroot, rel).read_bytes()).hexdigest() == digest
    assert json.loads(Path(qdir, batch, "batch.json").read_text())["state"] == "reversed"

    # and a new quarantine completes
    done = orphans.run(dict(base, mode="quarantine"), source, check=False)
    assert done["quarantined"]["files"] == N_ORPHANS


@pytest.mark.parametrize("kill_after", [1, 40, 100])
def test_killed_quarantine_to_another_filesystem_loses_nothing(two_filesystems, kill_after):
    """The same on a quarantine on another filesystem (copy, then unlink): a kill may land between the copy
    and the unlink, so a file may be in both places (same bytes), never in neither; the next run reverses."""
    disk1, disk2 = two_filesystems
    docroot, db, digests = _site(disk1)
    qdir = str(disk2 / "quarantine")
    _quarantine_killed_after(docroot, qdir, db, kill_after)

    batch, manifest = _manifest(qdir)
    assert kill_after <= len(manifest) < N_ORPHANS, "the kill did not land half-way"
    for rel, digest in digests.items():
        here, there = Path(docroot, rel), Path(qdir, batch, "files", rel)
        assert here.exists() or there.exists(), f"{rel} is nowhere"
        for path in (p for p in (here, there) if p.exists()):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
        if there.exists():
            assert rel in manifest

    source = lambda: SqliteSource(db)  # noqa: E731
    base = {"docroot": docroot, "quarantine_dir": qdir, "min_age": 0, "content_scan": False}
    report = orphans.run(dict(base, mode="report"), source, check=False)
    assert report["recovered"][0]["batch"] == batch and report["recovered"][0]["lost"] == []
    assert report["orphans"]["count"] == N_ORPHANS
    for rel, digest in digests.items():
        assert hashlib.sha256(Path(docroot, rel).read_bytes()).hexdigest() == digest
    leftovers = [p.name for p in Path(qdir, batch, "files").rglob("*") if p.is_file()]
    assert leftovers == [], leftovers
