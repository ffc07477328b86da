#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_backup
short_description: Back up, restore, verify and prune backups of a 1C-Bitrix site (files and database)
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
description:
  - One module for the whole job so that a site with 100k+ files is handled in one pass on the host,
    never by looping tasks over files.
  - C(check) reads the site and the DB credentials, connects to the database and reports what a backup
    would hold (files, bytes, tables); it changes nothing and is what the role's preflight runs.
  - C(create) writes C(<backup_dir>/<id>/) with C(files.tar.zst) (or C(.gz)), a manifest of every
    entry (type, mode, owner, mtime, size, sha256) written in the same pass as the archive, a
    C(mysqldump --single-transaction --routines --triggers) dump taken through a 0600 defaults file,
    and C(backup.json) (checksums, sizes, table checksums, duration). The backup is built in
    C(<id>.partial) and renamed only when complete. Disposable folders in O(exclude) are kept as
    empty folders, their content is left out.
  - C(restore) brings the files and the database back exactly as in the manifest. Entries that did
    not exist at backup time (outside the excluded folders) are moved to O(quarantine_dir) first,
    then the archive is extracted with owners, modes and mtimes, the database is reloaded from the
    dump (tables created since are dropped), the caches listed in O(clear_cache) are emptied and every
    manifest entry is compared with the disk.
  - The site is untrusted. The docroot is walked, read, quarantined, extracted into and compared from a
    descriptor of the docroot, never following a symlink; C(create) archives a file only when the file
    it opens is the one the walk examined (an entry swapped meanwhile is left out and named in a
    warning and in RV(plan.changed_sample)); C(restore) refuses, naming the path, to extract into a
    folder the site swapped for a symlink after the quarantine step.
  - C(verify) reads the archive and compares every entry with the manifest (sha256 of every file) and
    the dump with its recorded checksum; it fails naming the first mismatches.
  - C(prune) applies retention by count and age to the backups of this docroot, never deleting the
    ids in O(protect).
  - Supports check mode, in which C(create) reports what it would back up, C(restore) and C(prune) what they
    would change; nothing is written.
options:
  action:
    description: What to do.
    type: str
    choices: [check, create, restore, verify, prune]
    default: create
  backup_dir:
    description: Folder holding one sub-folder per backup; must lie outside the docroot.
    type: path
    required: true
  id:
    description: Backup id for C(restore) and C(verify); empty means the newest complete backup of O(docroot).
    type: str
    default: ""
  include_db:
    description: Dump (and on restore reload) the database.
    type: bool
    default: true
  exclude:
    description: Paths relative to the docroot whose content is left out (the disposable folders).
    type: list
    elements: str
    default: []
  compression:
    description: C(auto) takes zstd when the host has it (fastest), else gzip -1.
    type: str
    choices: [auto, zstd, gzip]
    default: auto
  min_interval:
    description:
      - C(create) reuses the newest backup of this docroot when it is younger than this many seconds
        (0 never reuses).
    type: int
    default: 0
  keep_count:
    description: C(prune) keeps at most this many backups of this docroot.
    type: int
    default: 7
  keep_days:
    description: C(prune) also deletes backups older than this many days (0 disables the age rule).
    type: int
    default: 14
  protect:
    description: Backup ids C(prune) never deletes (the backup just made).
    type: list
    elements: str
    default: []
  quarantine_dir:
    description: C(restore) moves entries that did not exist at backup time here instead of deleting them.
    type: path
  restore_files:
    description: C(restore) brings the files back.
    type: bool
    default: true
  clear_cache:
    description:
      - Folders (relative to the docroot) whose content C(restore) empties after reloading the database
        (caches of DB data); only folders the backup left out.
    type: list
    elements: str
    default: []
  run_id:
    description: Recorded in C(backup.json).
    type: str
    default: ""
  keep_files:
    description:
      - Files (relative to the docroot) whose version on this site C(restore) keeps, byte for byte with owner,
        mode and mtime, whatever the backup holds (a drill into staging keeps staging's DB connection
        settings, C(bitrix/.settings.php), C(bitrix/php_interface/dbconn.php)). Read and written through the
        docroot's anchor; a kept path that is not a regular file is refused before anything changes.
    type: list
    elements: str
    default: []
  source_docroot:
    description:
      - C(restore) and C(verify) pick backups made of this docroot instead of O(docroot) (a restore drill
        brings production's backup into staging, whose docroot may differ). Empty means O(docroot).
    type: path
    default: ""
"""

EXAMPLES = r"""
- name: Back up the site
  bxops.bitrix.bitrix_backup:
    action: create
    docroot: /home/bitrix/www
    backup_dir: /var/lib/bxops/backups
    exclude: [bitrix/cache, bitrix/managed_cache, upload/resize_cache]
  register: __backup_create

- name: Restore the newest backup
  bxops.bitrix.bitrix_backup:
    action: restore
    docroot: /home/bitrix/www
    backup_dir: /var/lib/bxops/backups
    quarantine_dir: /var/lib/bxops/quarantine
"""

RETURN = r"""
backup:
  description:
    - The backup made, reused, restored or verified (paths are absolute; db_dump empty without a dump).
  type: dict
  returned: create, restore, verify
  sample: {"id": "20260501T030000Z", "path": "/var/lib/bxops/backups/20260501T030000Z",
           "files_archive": "/var/lib/bxops/backups/20260501T030000Z/files.tar.zst",
           "db_dump": "/var/lib/bxops/backups/20260501T030000Z/db.sql.zst",
           "manifest": "/var/lib/bxops/backups/20260501T030000Z/manifest.jsonl",
           "size_bytes": 123456, "duration_s": 4.2, "created": "2026-05-01T03:00:00Z", "reused": false}
plan:
  description:
    - What a backup holds or would hold (files, dirs, links, content_bytes, tables, db_bytes, free_bytes).
    - After C(create), also C(changed) and C(changed_sample), the entries left out because they changed
      between the walk and the read (swapped for a symlink or another file, or removed).
  type: dict
  returned: check, create
problems:
  description: For C(check), what prevents a backup (each with the module option concerned and a message).
  type: list
  returned: check
restore:
  description:
    - What C(restore) did (quarantined entries, entries written, tables dropped, DB checksum mismatches, time).
  type: dict
  returned: restore
mismatches:
  description: For C(verify), the first mismatches found (path and what differs).
  type: list
  returned: verify
pruned:
  description: Ids deleted (or, in check mode, that would be) by C(prune), with the reason.
  type: list
  returned: prune
"""

import contextlib
import datetime
import errno
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_backup_records import META, list_backups, load_meta
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import (
    DB_OPTION,
    MYSQLDUMP_ARGS,
    DbCredentials,
    DbError,
    MysqlClient,
    last_line,
    sql_ident,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    DOCROOT_OPTION,
    Anchor,
    Entry,
    UnsafePath,
    clean_rel,
    copy_sparse,
    describe,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import COMPOSITE_CACHE
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    NotABitrixSite,
    db_credentials,
    require_site,
)

if TYPE_CHECKING:  # imported in main(): the scheduled runner on the host drives run() without Ansible
    from ansible.module_utils.basic import AnsibleModule

FORMAT = 1
MANIFEST = "manifest.jsonl"
INLINE_LIMIT = 32 << 20  # files up to this size are read once into memory (hash and archive agree)
CHUNK = 1 << 20
STREAM_BUFSIZE = 64 << 10  # reading a tar stream: tarfile copies what is left of its buffer per header


class BackupError(Exception):
    """A failure reported to the user as is."""


# ---------------------------------------------------------------- helpers


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso(ts: datetime.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def inside(path: str, root: str) -> bool:
    """True when path (resolved) is root or lies under it."""
    path = os.path.realpath(path)
    root = os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def compressor(choice: str) -> tuple[str, str, list[str], list[str]]:
    """(name, extension, compress argv, decompress argv); zstd is several times faster than gzip."""
    if choice in ("auto", "zstd") and shutil.which("zstd"):
        return "zstd", ".zst", ["zstd", "-q", "-T0", "-3", "-c"], ["zstd", "-q", "-d", "-c"]
    if choice == "zstd":
        raise BackupError("compression=zstd but the host has no zstd binary")
    if shutil.which("pigz"):
        return "gzip", ".gz", ["pigz", "-1", "-c"], ["pigz", "-d", "-c"]
    return "gzip", ".gz", ["gzip", "-1", "-c"], ["gzip", "-d", "-c"]


def decompressor_for(name: str) -> list[str]:
    if name == "zstd":
        if not shutil.which("zstd"):
            raise BackupError("the backup is zstd-compressed but the host has no zstd binary")
        return ["zstd", "-q", "-d", "-c"]
    return ["pigz", "-d", "-c"] if shutil.which("pigz") else ["gzip", "-d", "-c"]


# ---------------------------------------------------------------- the site tree


class Tree:
    """Walks the docroot in a stable order through the docroot anchor (never following a symlink), keeping
    the excluded folders but not their content.

    A folder that changes while it is walked (swapped for a symlink, replaced) is not entered and is listed
    in ``changed``; an unreadable folder is a BackupError.
    """

    def __init__(self, anchor: Anchor, exclude: list[str]) -> None:
        self.anchor = anchor
        self.exclude = {p.strip("/") for p in exclude if p.strip("/")}
        self.changed: list[str] = []

    def _error(self, rel: str, exc: OSError) -> None:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ESTALE, errno.ENOENT):
            self.changed.append(rel)
            return
        raise BackupError(f"cannot read folder {describe(self.anchor.abspath(rel))}: {exc.strerror}")

    def entries(self) -> Iterator[tuple[str, Entry | None, os.stat_result]]:
        """Yield (relative path, walk entry, lstat) for the root '.' (entry None) and everything under it."""
        yield ".", None, os.fstat(self.anchor.fd)
        prune = (lambda entry: entry.rel in self.exclude) if self.exclude else None
        try:
            for entry in self.anchor.walk("", prune=prune, on_error=self._error):
                yield entry.rel, entry, entry.st
        except UnsafePath as exc:
            raise BackupError(str(exc)) from exc


def drain(pipe: IO[bytes]) -> None:
    """Read a decompressor's output to its end, then close it. tarfile stops at the end-of-archive blocks while
    the decompressor may still be writing the record's padding: closing the pipe early kills it (SIGPIPE) and a
    good archive would be reported as undecompressable."""
    with contextlib.suppress(OSError, ValueError):
        while pipe.read(CHUNK):
            pass
    pipe.close()


def kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISLNK(mode):
        return "l"
    return None  # sockets, fifos, devices are never backed up


def open_docroot(docroot: str) -> Anchor:
    try:
        return Anchor(docroot)
    except UnsafePath as exc:
        raise BackupError(str(exc)) from exc


def count_tree(docroot: str, exclude: list[str]) -> dict[str, int]:
    counts = {"files": 0, "dirs": 0, "links": 0, "content_bytes": 0}
    with open_docroot(docroot) as anchor:
        for _rel, _entry, st in Tree(anchor, exclude).entries():
            k = kind(st.st_mode)
            if k == "f":
                counts["files"] += 1
                counts["content_bytes"] += st.st_size
            elif k == "d":
                counts["dirs"] += 1
            elif k == "l":
                counts["links"] += 1
    return counts


# ---------------------------------------------------------------- backups on disk


def result_of(backup_dir: str, meta: dict, reused: bool = False) -> dict:
    path = os.path.join(backup_dir, meta["id"])
    db = meta.get("db") or {}
    return {
        "id": meta["id"],
        "path": path,
        "files_archive": os.path.join(path, meta["files"]["archive"]),
        "db_dump": os.path.join(path, db["dump"]) if db.get("dump") else "",
        "manifest": os.path.join(path, meta["files"]["manifest"]),
        "size_bytes": int(meta.get("size_bytes", 0)),
        "duration_s": float(meta.get("duration_s", 0)),
        "created": meta.get("created", ""),
        "reused": reused,
    }


def pick(backup_dir: str, docroot: str, backup_id: str) -> dict:
    if backup_id:
        path = os.path.join(backup_dir, backup_id)
        if "/" in backup_id or not os.path.isdir(path):
            raise BackupError(f"no backup {backup_id!r} in {backup_dir}")
        meta = load_meta(path)
        if meta is None:
            raise BackupError(f"{path} is not a complete backup (no valid {META})")
        if meta.get("docroot") != docroot:
            raise BackupError("backup {} is of {}, not of {}".format(backup_id, meta.get("docroot"), docroot))
        return meta
    backups = list_backups(backup_dir, docroot)
    if not backups:
        raise BackupError(f"no complete backup of {docroot} in {backup_dir}")
    return backups[0]


def new_id(backup_dir: str, now: datetime.datetime) -> str:
    base = now.strftime("%Y%m%dT%H%M%SZ")
    candidate, n = base, 1
    while os.path.exists(os.path.join(backup_dir, candidate)) or os.path.exists(
        os.path.join(backup_dir, candidate + ".partial")
    ):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# ---------------------------------------------------------------- database


class Db:
    """The backup's view of the site's database (tables, size, checksums, dump, load) on the collection's one
    client, bitrix_db.MysqlClient: the password only ever sits in its 0600 defaults file."""

    def __init__(self, creds: DbCredentials) -> None:
        self.creds = creds
        self.client = MysqlClient(creds)

    def close(self) -> None:
        self.client.close()

    def argv(self, binary: str) -> list[str]:
        return self.client.argv(binary)

    def ping(self) -> None:
        self.client.scalar("SELECT 1")

    def tables(self) -> tuple[list[str], list[str]]:
        tables, views = [], []
        for name, kind_ in self.client.rows("SHOW FULL TABLES"):
            (views if kind_ == "VIEW" else tables).append(name or "")
        return sorted(tables), sorted(views)

    def size(self) -> int:
        value = self.client.scalar(
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        )
        return int(value or 0)

    def checksums(self, tables: list[str]) -> dict[str, str | None]:
        result: dict[str, str | None] = {}
        for start in range(0, len(tables), 200):
            chunk = tables[start : start + 200]
            if not chunk:
                continue
            query = "CHECKSUM TABLE " + ", ".join(sql_ident(t) for t in chunk)
            for row in self.client.rows(query):
                name = (row[0] or "").split(".", 1)[-1]
                result[name] = row[1]
        return result

    def execute(self, sql: str) -> None:
        try:
            self.client.execute(sql)
        except DbError as exc:
            raise BackupError(str(exc)) from exc

    def dump(self, target: str, compress_argv: list[str]) -> None:
        try:
            self.client.dump(target, compress_argv, MYSQLDUMP_ARGS)
        except DbError as exc:
            raise BackupError(str(exc)) from exc

    def load(self, source: str, decompress_argv: list[str]) -> None:
        try:
            self.client.load(source, decompress_argv)
        except DbError as exc:
            raise BackupError(str(exc)) from exc


def open_db(module: AnsibleModule, docroot: str) -> Db:
    try:
        creds = db_credentials(docroot, module.params["db"])
    except (RuntimeError, ValueError, OSError) as exc:
        raise BackupError(str(exc)) from exc
    if not creds.user:
        raise BackupError("no DB user: neither db.user nor connections.default.login in bitrix/.settings.php")
    db = Db(creds)
    try:
        db.ping()
    except RuntimeError as exc:
        db.close()
        raise BackupError(f"cannot connect to database {creds.database} as {creds.user}: {exc}") from exc
    return db


# ---------------------------------------------------------------- create


def free_bytes(path: str) -> int:
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        st = os.statvfs(probe or "/")
    except OSError:
        return -1
    return st.f_bavail * st.f_frsize


def archive_tree(
    docroot: str, exclude: list[str], archive: str, manifest: str, compress_argv: list[str]
) -> tuple[dict[str, int], list[str]]:
    """Write the tar (through the compressor) and the manifest in one pass over the files.

    Everything is reached from the docroot's descriptor without following symlinks, and a file is opened
    only if it is still the regular file the walk looked at (same device and inode): an entry swapped
    meanwhile (for a symlink to a root-only file, say) is left out of archive and manifest and returned
    in the second value, never archived as something else.
    """
    counts = {"files": 0, "dirs": 0, "links": 0, "content_bytes": 0, "skipped": 0, "changed": 0}
    changed: list[str] = []
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open_docroot(docroot) as anchor, os.fdopen(fd, "wb") as out, open(manifest, "w", encoding="utf-8") as man:
        os.chmod(manifest, 0o600)
        comp = subprocess.Popen(compress_argv, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE)
        assert comp.stdin is not None
        tree = Tree(anchor, exclude)
        try:
            tar = tarfile.open(  # noqa: SIM115 - closed explicitly before the compressor
                fileobj=comp.stdin, mode="w|", format=tarfile.PAX_FORMAT, bufsize=STREAM_BUFSIZE
            )
            for rel, item, st in tree.entries():
                k = kind(st.st_mode)
                if k is None:
                    counts["skipped"] += 1
                    continue
                info = tarfile.TarInfo(rel)
                info.mode = stat.S_IMODE(st.st_mode)
                info.uid, info.gid = st.st_uid, st.st_gid
                info.uname = info.gname = ""
                info.mtime = st.st_mtime_ns // 1000000000
                seconds, nanos = divmod(st.st_mtime_ns, 1000000000)
                info.pax_headers = {"mtime": f"{seconds}.{nanos:09d}"}
                entry = {
                    "p": rel,
                    "t": k,
                    "m": info.mode,
                    "u": st.st_uid,
                    "g": st.st_gid,
                    "mt": st.st_mtime_ns,
                }
                if k == "d":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                    counts["dirs"] += 1
                elif k == "l":
                    assert item is not None
                    info.type = tarfile.SYMTYPE
                    try:
                        info.linkname = os.readlink(item.name, dir_fd=item.dir_fd)
                        now = os.stat(item.name, dir_fd=item.dir_fd, follow_symlinks=False)
                    except OSError:
                        now = None
                    if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                        changed.append(rel)
                        continue
                    entry["l"] = info.linkname
                    tar.addfile(info)
                    counts["links"] += 1
                else:
                    try:
                        file_fd = anchor.open_file(rel, expect=st)
                    except (UnsafePath, FileNotFoundError):  # swapped or gone since the walk saw it
                        changed.append(rel)
                        continue
                    except OSError as exc:
                        raise BackupError(f"cannot read {describe(anchor.abspath(rel))}: {exc.strerror}") from exc
                    with open(file_fd, "rb") as handle:
                        size = os.fstat(handle.fileno()).st_size
                        if size <= INLINE_LIMIT:
                            data = handle.read()
                            info.size = len(data)
                            digest = hashlib.sha256(data).hexdigest()
                            tar.addfile(info, io.BytesIO(data))
                        else:
                            info.size = size
                            reader = HashingReader(handle, size)
                            tar.addfile(info, reader)
                            digest = reader.hexdigest()
                    entry["s"] = info.size
                    entry["h"] = digest
                    counts["files"] += 1
                    counts["content_bytes"] += info.size
                man.write(json.dumps(entry, separators=(",", ":")) + "\n")
            tar.close()
        finally:
            with contextlib.suppress(BrokenPipeError):
                comp.stdin.close()
            err = comp.stderr.read() if comp.stderr else b""
            rc = comp.wait()
        if rc != 0:
            raise BackupError(f"compressing the files archive failed: {last_line(err)}")
    changed.extend(tree.changed)
    counts["changed"] = len(changed)
    return counts, changed


class HashingReader:
    """A file object for tarfile that hashes what it hands over and pads a file that shrank meanwhile."""

    def __init__(self, handle, size: int) -> None:
        self.handle = handle
        self.left = size
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.handle.read(n)
        if len(data) < n:  # the file shrank while being read: keep the archive consistent
            data += b"\0" * (n - len(data))
        self.left -= len(data)
        self.digest.update(data)
        return data

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def do_check(module: AnsibleModule, docroot: str, backup_dir: str, exclude: list[str]) -> dict:
    problems = []
    plan: dict[str, object] = {}
    try:
        require_site(docroot)
    except NotABitrixSite as exc:
        return {"problems": [{"option": "docroot", "msg": str(exc)}], "plan": plan}
    if inside(backup_dir, docroot) or inside(docroot, backup_dir):
        problems.append(
            {
                "option": "backup_dir",
                "msg": f"{backup_dir} lies inside the docroot {docroot} (or contains it)",
            }
        )
    missing: list[str] = []
    if module.params["include_db"]:
        missing += [tool for tool in ("mysqldump", "mysql") if not shutil.which(tool)]
        try:
            db = open_db(module, docroot)
        except BackupError as exc:
            problems.append({"option": "db", "msg": str(exc)})
        else:
            try:
                tables, views = db.tables()
                plan.update(
                    database=db.creds.database, tables=len(tables), views=len(views), db_bytes=db.size()
                )
            finally:
                db.close()
    if missing:
        problems.append({"option": "host", "msg": "missing on the host: {}".format(", ".join(missing))})
    try:
        plan["compression"] = compressor(module.params["compression"])[0]
    except BackupError as exc:
        problems.append({"option": "compression", "msg": str(exc)})
    plan.update(count_tree(docroot, exclude))
    plan["free_bytes"] = free_bytes(backup_dir)
    plan["backups"] = [m["id"] for m in list_backups(backup_dir, docroot)]
    return {"problems": problems, "plan": plan}


def do_create(module: AnsibleModule, docroot: str, backup_dir: str, exclude: list[str]) -> dict:
    params = module.params
    started = time.monotonic()
    if params["min_interval"] > 0:
        backups = list_backups(backup_dir, docroot)
        if backups and backups[0].get("include_db") == params["include_db"]:
            age = time.time() - float(backups[0].get("created_ts", 0))
            if 0 <= age < params["min_interval"]:
                return {
                    "changed": False,
                    "backup": result_of(backup_dir, backups[0], reused=True),
                    "msg": f"backup {backups[0]['id']} is {age:.0f} s old (< min_interval): reused",
                }
    compression, ext, compress_argv, _ = compressor(params["compression"])
    db = open_db(module, docroot) if params["include_db"] else None
    try:
        if module.check_mode:
            plan = count_tree(docroot, exclude)
            if db:
                tables, views = db.tables()
                plan.update(tables=len(tables), views=len(views), db_bytes=db.size())
            with_db = " and the database" if db else ""
            return {
                "changed": True,
                "plan": plan,
                "msg": f"would back up {plan['files']} files ({plan['content_bytes']} bytes){with_db}",
            }
        now = utcnow()
        os.makedirs(backup_dir, mode=0o700, exist_ok=True)
        backup_id = new_id(backup_dir, now)
        final = os.path.join(backup_dir, backup_id)
        work = final + ".partial"
        os.mkdir(work, 0o700)
        try:
            meta: dict[str, object] = {
                "format": FORMAT,
                "id": backup_id,
                "status": "partial",
                "created": iso(now),
                "created_ts": now.timestamp(),
                "docroot": docroot,
                "host": socket.gethostname(),
                "run_id": params["run_id"],
                "exclude": sorted(exclude),
                "compression": compression,
                "include_db": params["include_db"],
            }
            db_meta: dict[str, object] = {}
            if db:
                tables, views = db.tables()
                checksums = db.checksums(tables)
                dump_name = "db.sql" + ext
                db.dump(os.path.join(work, dump_name), compress_argv)
                db_meta = {
                    "dump": dump_name,
                    "database": db.creds.database,
                    "host": db.creds.host,
                    "tables": tables,
                    "views": views,
                    "checksums": checksums,
                    "sha256": sha256_file(os.path.join(work, dump_name)),
                    "bytes": os.path.getsize(os.path.join(work, dump_name)),
                }
            archive_name = "files.tar" + ext
            counts, changed = archive_tree(
                docroot,
                exclude,
                os.path.join(work, archive_name),
                os.path.join(work, MANIFEST),
                compress_argv,
            )
            files_meta: dict[str, object] = dict(counts)
            files_meta["changed_sample"] = [describe(rel) for rel in changed[:20]]
            files_meta.update(
                archive=archive_name,
                manifest=MANIFEST,
                sha256=sha256_file(os.path.join(work, archive_name)),
                bytes=os.path.getsize(os.path.join(work, archive_name)),
                manifest_sha256=sha256_file(os.path.join(work, MANIFEST)),
            )
            meta["files"] = files_meta
            meta["db"] = db_meta
            meta["size_bytes"] = sum(os.path.getsize(os.path.join(work, name)) for name in os.listdir(work))
            meta["duration_s"] = round(time.monotonic() - started, 2)
            meta["status"] = "complete"
            meta_path = os.path.join(work, META)
            fd = os.open(meta_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(meta, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    finally:
        if db:
            db.close()
    result = result_of(backup_dir, meta)
    plan = {k: files_meta[k] for k in ("files", "dirs", "links", "content_bytes", "skipped", "changed")}
    plan["changed_sample"] = files_meta["changed_sample"]
    if db_meta:
        plan.update(tables=len(db_meta["tables"]), db_dump_bytes=db_meta["bytes"])
    plan["files_archive_bytes"] = files_meta["bytes"]
    warnings = []
    if changed:
        warnings.append(
            f"{len(changed)} entries changed while being backed up and were left out of the backup "
            f"(swapped for a symlink or another file, or removed), first: {', '.join(plan['changed_sample'][:5])}"
        )
    return {
        "changed": True,
        "backup": result,
        "plan": plan,
        "warnings_": warnings,
        "msg": f"backup {backup_id}: {counts['files']} files, {meta['size_bytes']} bytes"
        f" in {meta['duration_s']:.1f} s",
    }


# ---------------------------------------------------------------- manifest and verify


def read_manifest(path: str) -> Iterator[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def normalise(name: str) -> str:
    name = name.rstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name or "."


def do_verify(module: AnsibleModule, docroot: str, backup_dir: str) -> dict:
    meta = pick(backup_dir, module.params.get("source_docroot") or docroot, module.params["id"])
    path = os.path.join(backup_dir, meta["id"])
    mismatches: list[dict] = []
    limit = 20
    files = meta["files"]

    def note(item: str, what: str) -> None:
        if len(mismatches) < limit:
            mismatches.append({"path": item, "problem": what})
        counts["mismatches"] += 1

    counts = {"entries": 0, "mismatches": 0}
    manifest_path = os.path.join(path, files["manifest"])
    if sha256_file(manifest_path) != files.get("manifest_sha256"):
        note(files["manifest"], "manifest checksum differs from backup.json")
    if files.get("sha256") and sha256_file(os.path.join(path, files["archive"])) != files["sha256"]:
        note(files["archive"], "archive checksum differs from backup.json (corrupted)")
    db = meta.get("db") or {}
    if db.get("dump"):
        dump_path = os.path.join(path, db["dump"])
        if not os.path.isfile(dump_path):
            note(db["dump"], "database dump is missing")
        elif sha256_file(dump_path) != db.get("sha256"):
            note(db["dump"], "database dump checksum differs from backup.json")
    expected = {entry["p"]: entry for entry in read_manifest(manifest_path)}
    seen = set()
    archive = os.path.join(path, files["archive"])
    with open(archive, "rb") as src:
        dec = subprocess.Popen(
            decompressor_for(meta.get("compression", "gzip")),
            stdin=src,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert dec.stdout is not None
        try:
            with tarfile.open(fileobj=dec.stdout, mode="r|", bufsize=STREAM_BUFSIZE) as tar:
                for info in tar:
                    name = normalise(info.name)
                    counts["entries"] += 1
                    entry = expected.get(name)
                    if entry is None:
                        note(name, "in the archive, not in the manifest")
                        continue
                    seen.add(name)
                    k = "d" if info.isdir() else "l" if info.issym() else "f" if info.isfile() else "?"
                    if k != entry["t"]:
                        note(name, "type {} in the archive, {} in the manifest".format(k, entry["t"]))
                        continue
                    if k == "f":
                        digest = hashlib.sha256()
                        member = tar.extractfile(info)
                        assert member is not None
                        while True:
                            chunk = member.read(CHUNK)
                            if not chunk:
                                break
                            digest.update(chunk)
                        if digest.hexdigest() != entry["h"]:
                            note(
                                name,
                                f"content differs (sha256 {digest.hexdigest()[:12]}, "
                                f"manifest {entry['h'][:12]})",
                            )
                            continue
                    elif k == "l" and info.linkname != entry.get("l"):
                        note(name, "link target differs")
                        continue
                    if (info.mode & 0o7777, info.uid, info.gid) != (entry["m"], entry["u"], entry["g"]):
                        note(name, "mode/owner differ from the manifest")
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            note(files["archive"], f"unreadable archive: {exc}")
        finally:
            drain(dec.stdout)
            err = dec.stderr.read() if dec.stderr else b""
            rc = dec.wait()
    if rc != 0:
        note(files["archive"], f"cannot decompress: {last_line(err) or f'exit status {rc}'}")
    for name in expected:
        if name not in seen:
            note(name, "in the manifest, missing from the archive")
    result = {
        "changed": False,
        "backup": result_of(backup_dir, meta),
        "mismatches": mismatches,
        "entries": counts["entries"],
        "mismatch_count": counts["mismatches"],
    }
    if mismatches:
        result["failed"] = True
        first = "; ".join(f"{m['path']}: {m['problem']}" for m in mismatches[:5])
        result["msg"] = (
            f"backup {meta['id']} does not match its manifest "
            f"({counts['mismatches']} mismatches), first: {first}"
        )
    else:
        result["msg"] = f"backup {meta['id']}: {counts['entries']} entries match the manifest"
    return result


# ---------------------------------------------------------------- restore


def _qualified(anchor: Anchor, rel: str) -> str:
    return describe(anchor.abspath(rel))


def copy_across(src: Anchor, rel: str, dst: Anchor) -> None:
    """Move entry ``rel`` of ``src`` to the same place under ``dst`` on another filesystem: copied without
    following symlinks (holes kept, owner, mode and mtime kept), then removed from ``src``."""
    top = src.lstat(rel)
    items: list[tuple[str, os.stat_result, str, int]] = []
    copied: set[tuple[int, int]] = set()  # what may be removed: only what was copied

    def place(item_rel: str, st: os.stat_result, name: str, dir_fd: int) -> None:
        copied.add((st.st_dev, st.st_ino))
        if stat.S_ISDIR(st.st_mode):
            dst.makedirs(item_rel, 0o700)
            items.append((item_rel, st, name, dir_fd))
            return
        parent, dst_name = dst.open_parent(item_rel)
        try:
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=dir_fd), dst_name, dir_fd=parent)
                os.chown(dst_name, st.st_uid, st.st_gid, dir_fd=parent, follow_symlinks=False)
                return
            if not stat.S_ISREG(st.st_mode):
                return  # fifos, sockets, devices: nothing to keep; removed with the rest
            in_fd = src.open_file(item_rel, expect=st)
            try:
                out_fd = os.open(dst_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 0o600, dir_fd=parent)
                try:
                    copy_sparse(in_fd, out_fd)
                    os.fchown(out_fd, st.st_uid, st.st_gid)
                    os.fchmod(out_fd, stat.S_IMODE(st.st_mode))
                    os.utime(out_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
                finally:
                    os.close(out_fd)
            finally:
                os.close(in_fd)
        finally:
            os.close(parent)

    if stat.S_ISDIR(top.st_mode):
        place(rel, top, "", -1)
        for entry in src.walk(rel):
            place(entry.rel, entry.st, entry.name, entry.dir_fd)
        for item_rel, st, _name, _fd in reversed(items):
            fd = dst.open_dir(item_rel)
            try:
                os.fchown(fd, st.st_uid, st.st_gid)
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd)
        src.remove_tree(rel, keep=lambda entry: (entry.st.st_dev, entry.st.st_ino) not in copied)
    else:
        parent, name = src.open_parent(rel)
        try:
            place(rel, top, name, parent)
        finally:
            os.close(parent)
        src.unlink(rel)


def quarantine_extras(
    docroot: str, expected: dict[str, str], exclude: list[str], quarantine: str, check: bool
) -> list[str]:
    """Move away every entry that is not in the manifest (or has another type), outside excluded folders.

    The docroot is walked and entries are moved from its descriptor without following symlinks: a folder
    the site swapped for a symlink is moved as the link it is, nothing behind it is touched.
    """
    moved: list[str] = []
    excluded = {p.strip("/") for p in exclude}

    def misplaced(entry: Entry) -> bool:
        k = kind(entry.st.st_mode)
        return (entry.rel in excluded and k == "d") or expected.get(entry.rel) != k

    target: Anchor | None = None
    with open_docroot(docroot) as anchor:
        try:
            for entry in anchor.walk("", prune=misplaced):
                k = kind(entry.st.st_mode)
                if (entry.rel in excluded and k == "d") or expected.get(entry.rel) == k:
                    continue
                moved.append(entry.rel)
                if check:
                    continue
                if target is None:
                    os.makedirs(os.path.dirname(quarantine), mode=0o700, exist_ok=True)
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(quarantine, 0o700)
                    target = Anchor(quarantine)
                parent = os.path.dirname(entry.rel)
                if parent:
                    target.makedirs(parent, 0o700)
                try:
                    anchor.rename(entry.rel, target, entry.rel)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    copy_across(anchor, entry.rel, target)
        except UnsafePath as exc:
            raise BackupError(f"quarantining what the backup does not hold: {exc}") from exc
        finally:
            if target is not None:
                target.close()
    return moved


def _make_room(parent: int, name: str, anchor: Anchor, rel: str) -> None:
    """Remove what is at ``name`` (never following it) so the backup's entry can be created there."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise BackupError(
            f"restoring {_qualified(anchor, rel)}: a folder is in the way (changed during the restore?)"
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=parent)


class _Parents:
    """The descriptor of the folder the last entry went into: members come folder by folder, so most
    entries reuse it instead of going down from the docroot again (the folder was reached without
    following a symlink; what it is stays what it was)."""

    def __init__(self, anchor: Anchor) -> None:
        self.anchor = anchor
        self.rel: str | None = None
        self.fd = -1

    def of(self, rel: str) -> tuple[int, str]:
        folder, _, name = rel.rpartition("/")
        if folder != self.rel:
            self.close()
            self.fd = self.anchor.open_dir(folder)
            self.rel = folder
        return self.fd, name

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.rel = -1, None


def _create_file(parent: int, name: str, anchor: Anchor, rel: str) -> int:
    _make_room(parent, name, anchor, rel)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, 0o600, dir_fd=parent)
    except FileExistsError:  # something was put there meanwhile: once more, then give up
        _make_room(parent, name, anchor, rel)
        return os.open(name, flags, 0o600, dir_fd=parent)


def extract_archive(anchor: Anchor, archive: str, dec_argv: list[str], manifest: dict[str, dict]) -> int:
    """Extract the backup's archive into the docroot through the anchor; returns the entries written.

    Folders are created (or must already be real folders) component by component without following a
    symlink; a file or link replaces what is at its name in its (real) folder: the old entry is unlinked
    (never followed) and the new one created with O_EXCL|O_NOFOLLOW. Owner, mode and mtime come from the
    checksummed manifest. A member that is not a plain relative path, or not in the manifest, stops the
    restore.
    """
    folders: list[dict] = []
    written = 0
    parents = _Parents(anchor)
    with open(archive, "rb") as src:
        dec = subprocess.Popen(dec_argv, stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert dec.stdout is not None
        try:
            with tarfile.open(fileobj=dec.stdout, mode="r|", bufsize=STREAM_BUFSIZE) as tar:
                for info in tar:
                    name = normalise(info.name)
                    entry = manifest.get(name)
                    if entry is None:
                        raise BackupError(f"{describe(name)}: in the archive, not in the manifest; run verify")
                    rel = "" if name == "." else clean_rel(name, "archive member")
                    if info.isdir() and entry["t"] == "d":
                        if rel:
                            parent, base = parents.of(rel)
                            with contextlib.suppress(FileExistsError):
                                os.mkdir(base, 0o700, dir_fd=parent)
                            # checked (a real folder, no symlink) when the first member inside opens it
                        folders.append(entry)
                    elif info.issym() and entry["t"] == "l":
                        parent, base = parents.of(rel)
                        _make_room(parent, base, anchor, rel)
                        os.symlink(info.linkname, base, dir_fd=parent)
                        os.chown(base, entry["u"], entry["g"], dir_fd=parent, follow_symlinks=False)
                        os.utime(base, ns=(entry["mt"], entry["mt"]), dir_fd=parent, follow_symlinks=False)
                    elif info.isfile() and entry["t"] == "f":
                        member = tar.extractfile(info)
                        assert member is not None
                        parent, base = parents.of(rel)
                        out = _create_file(parent, base, anchor, rel)
                        try:
                            while True:
                                chunk = member.read(CHUNK)
                                if not chunk:
                                    break
                                view = memoryview(chunk)
                                while view:
                                    view = view[os.write(out, view):]
                            os.fchown(out, entry["u"], entry["g"])
                            os.fchmod(out, entry["m"])
                            os.utime(out, ns=(time.time_ns(), entry["mt"]))
                        finally:
                            os.close(out)
                    else:
                        raise BackupError(f"{describe(name)}: the archive and the manifest disagree on its type")
                    written += 1
        except UnsafePath as exc:
            raise BackupError(f"restore stopped: {exc}") from exc
        except (tarfile.TarError, EOFError) as exc:
            raise BackupError(f"extracting {archive} failed: {exc}") from exc
        finally:
            parents.close()
            drain(dec.stdout)
            err = dec.stderr.read() if dec.stderr else b""
            rc = dec.wait()
    if rc != 0:
        raise BackupError(f"extracting {archive} failed: {last_line(err) or f'exit status {rc}'}")
    try:
        for entry in reversed(folders):  # deepest first: setting a folder's mtime after its content
            fd = anchor.open_dir("" if entry["p"] == "." else entry["p"])
            try:
                os.fchown(fd, entry["u"], entry["g"])
                os.fchmod(fd, entry["m"])
                os.utime(fd, ns=(entry["mt"], entry["mt"]))
            finally:
                os.close(fd)
    except UnsafePath as exc:
        raise BackupError(f"restore stopped: {exc}") from exc
    return written


def check_clear_folders(docroot: str, folders: list[str]) -> None:
    """Refuse, before the restore changes anything, cache folders that are not plain real folders."""
    with open_docroot(docroot) as anchor:
        for folder in folders:
            try:
                anchor.require_dir(clean_rel(folder, "clear_cache"), "clear_cache folder")
            except UnsafePath as exc:
                raise BackupError(str(exc)) from exc


def clear_folders(docroot: str, folders: list[str]) -> int:
    removed = 0
    with open_docroot(docroot) as anchor:
        for folder in folders:
            try:
                rel = clean_rel(folder, "clear_cache")
                if not anchor.require_dir(rel, "clear_cache folder"):
                    continue
                for item in anchor.scandir(rel):
                    # composite cache: only cached pages go, .enabled/.config.php/.size stay
                    if rel == COMPOSITE_CACHE and item.name.startswith("."):
                        continue
                    if item.is_dir:
                        anchor.remove_tree(item.rel)
                    else:
                        anchor.unlink(item.rel)
                    removed += 1
            except UnsafePath as exc:
                raise BackupError(str(exc)) from exc
    return removed


def compare_disk(docroot: str, manifest_path: str, exclude: list[str]) -> list[str]:
    """Every manifest entry against the disk (type, mode, owner, size, mtime): the restore's own check.

    Entries are reached from the docroot's descriptor: one behind a symlink counts as a problem."""
    excluded = {p.strip("/") for p in exclude}
    problems: list[str] = []
    with open_docroot(docroot) as anchor:
        parents = _Parents(anchor)
        try:
            for entry in read_manifest(manifest_path):
                rel = entry["p"]
                try:
                    if rel == ".":
                        st = os.fstat(anchor.fd)
                    else:
                        parent, name = parents.of(rel)
                        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                except UnsafePath as exc:
                    problems.append(f"{rel}: {exc}")
                    continue
                except OSError:
                    problems.append(f"{rel}: missing")
                    continue
                if kind(st.st_mode) != entry["t"]:
                    problems.append(f"{rel}: wrong type")
                    continue
                if (st.st_uid, st.st_gid) != (entry["u"], entry["g"]):
                    problems.append(f"{rel}: owner {st.st_uid}:{st.st_gid}, expected {entry['u']}:{entry['g']}")
                if entry["t"] != "l" and stat.S_IMODE(st.st_mode) != entry["m"]:
                    problems.append(
                        "{}: mode {:04o}, expected {:04o}".format(rel, stat.S_IMODE(st.st_mode), entry["m"])
                    )
                if entry["t"] == "f" and (st.st_size != entry["s"] or st.st_mtime_ns != entry["mt"]):
                    problems.append(f"{rel}: size/mtime differ")
                if (
                    entry["t"] == "d"
                    and rel not in excluded
                    and st.st_mtime_ns // 1000000000 != entry["mt"] // 1000000000
                ):
                    problems.append(f"{rel}: folder mtime differs")
        finally:
            parents.close()
    return problems


def read_kept(docroot: str, keep: list[str]) -> dict[str, tuple[bytes, os.stat_result]]:
    """This site's own version of each file in ``keep`` (content and lstat), before the restore changes it."""
    kept: dict[str, tuple[bytes, os.stat_result]] = {}
    with open_docroot(docroot) as anchor:
        for value in keep:
            try:
                rel = clean_rel(value, "keep_files")
                if not anchor.exists(rel):
                    continue
                st = anchor.lstat(rel)
                if not stat.S_ISREG(st.st_mode):
                    raise BackupError(f"keep_files: {_qualified(anchor, rel)} is not a regular file")
                kept[rel] = (anchor.read_bytes(rel, limit=16 << 20), st)
            except UnsafePath as exc:
                raise BackupError(f"keep_files: {exc}") from exc
    return kept


def write_kept(docroot: str, kept: dict[str, tuple[bytes, os.stat_result]]) -> None:
    with open_docroot(docroot) as anchor:
        for rel, (data, st) in sorted(kept.items()):
            try:
                parent = os.path.dirname(rel)
                if parent and not anchor.exists(parent):
                    anchor.makedirs(parent)
                anchor.write_atomic(rel, data, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)
                anchor.utime(rel, (st.st_atime_ns, st.st_mtime_ns))
            except UnsafePath as exc:
                raise BackupError(f"keep_files: {exc}") from exc


def do_restore(module: AnsibleModule, docroot: str, backup_dir: str) -> dict:
    params = module.params
    started = time.monotonic()
    meta = pick(backup_dir, params.get("source_docroot") or docroot, params["id"])
    path = os.path.join(backup_dir, meta["id"])
    files = meta["files"]
    exclude = meta.get("exclude", [])
    manifest_path = os.path.join(path, files["manifest"])
    db_meta = meta.get("db") or {}
    restore_db = params["include_db"] and bool(db_meta.get("dump"))
    if params["restore_files"] and not params["quarantine_dir"]:
        raise BackupError("quarantine_dir is required to restore files")
    if params["quarantine_dir"] and inside(params["quarantine_dir"], docroot):
        raise BackupError("quarantine_dir {} lies inside the docroot".format(params["quarantine_dir"]))
    for name in [files["archive"], files["manifest"]] + ([db_meta["dump"]] if restore_db else []):
        if not os.path.isfile(os.path.join(path, name)):
            raise BackupError("backup {} is incomplete: {} is missing".format(meta["id"], name))
    if sha256_file(manifest_path) != files.get("manifest_sha256"):
        raise BackupError("backup {}: the manifest does not match backup.json; run verify".format(meta["id"]))
    if files.get("sha256") and sha256_file(os.path.join(path, files["archive"])) != files["sha256"]:
        raise BackupError(
            "backup {}: {} is corrupted (its sha256 differs from backup.json); nothing was restored".format(
                meta["id"], files["archive"]
            )
        )
    left_out = {p.strip("/") for p in exclude}
    caches = [c.strip("/") for c in params["clear_cache"] if c.strip("/") in left_out]
    check_clear_folders(docroot, caches)
    kept = read_kept(docroot, params.get("keep_files") or []) if params["restore_files"] else {}
    db = open_db(module, docroot) if restore_db else None
    report: dict[str, object] = {"id": meta["id"], "files": params["restore_files"], "db": restore_db}
    try:
        if restore_db and db_meta.get("database") and db and db.creds.database != db_meta["database"]:
            report["db_name_note"] = "dump of {} loaded into {}".format(
                db_meta["database"], db.creds.database
            )
        quarantine = os.path.join(
            params["quarantine_dir"] or "/nonexistent",
            "restore-{}-{}".format(meta["id"], utcnow().strftime("%Y%m%dT%H%M%SZ")),
        )
        if params["restore_files"]:
            expected = {entry["p"]: entry["t"] for entry in read_manifest(manifest_path)}
            moved = quarantine_extras(docroot, expected, exclude, quarantine, module.check_mode)
            report["quarantined"] = len(moved)
            report["quarantined_sample"] = moved[:20]
            if moved and not module.check_mode:
                report["quarantine_dir"] = quarantine
        if restore_db and db:
            tables, views = db.tables()
            extra_tables = sorted(set(tables) - set(db_meta.get("tables", [])))
            extra_views = sorted(set(views) - set(db_meta.get("views", [])))
            report["tables_dropped"] = extra_tables + extra_views
        if module.check_mode:
            return {
                "changed": True,
                "restore": report,
                "backup": result_of(backup_dir, meta),
                "msg": "would restore backup {}".format(meta["id"]),
            }
        if params["restore_files"]:
            dec_argv = decompressor_for(meta.get("compression", "gzip"))
            by_path = {entry["p"]: entry for entry in read_manifest(manifest_path)}
            with open_docroot(docroot) as anchor:
                report["entries_written"] = extract_archive(
                    anchor, os.path.join(path, files["archive"]), dec_argv, by_path
                )
        if restore_db and db:
            drops = []
            if report["tables_dropped"]:
                for name in extra_views:
                    drops.append("DROP VIEW IF EXISTS `{}`".format(name.replace("`", "``")))
                for name in extra_tables:
                    drops.append("DROP TABLE IF EXISTS `{}`".format(name.replace("`", "``")))
                db.execute("SET FOREIGN_KEY_CHECKS=0; " + "; ".join(drops))
            db.load(os.path.join(path, db_meta["dump"]), decompressor_for(meta.get("compression", "gzip")))
            after = db.checksums(db_meta.get("tables", []))
            recorded = db_meta.get("checksums", {})
            differ = sorted(t for t in recorded if recorded[t] != after.get(t))
            report["db_checksum_mismatches"] = differ
        if caches:
            report["cache_entries_cleared"] = clear_folders(docroot, caches)
        if params["restore_files"]:
            problems = compare_disk(docroot, manifest_path, exclude)
            report["disk_mismatches"] = problems[:20]
            if problems:
                raise BackupError(
                    f"after extracting, {len(problems)} entries differ from the manifest, "
                    f"first: {'; '.join(problems[:5])}"
                )
            if kept:
                write_kept(docroot, kept)
                report["kept_files"] = sorted(kept)
    finally:
        if db:
            db.close()
    report["duration_s"] = round(time.monotonic() - started, 2)
    warnings = []
    if report.get("db_checksum_mismatches"):
        warnings.append(
            "tables whose checksum differs from the one taken before the dump "
            "(written to during the backup?): {}".format(", ".join(report["db_checksum_mismatches"][:10]))
        )
    return {
        "changed": True,
        "restore": report,
        "backup": result_of(backup_dir, meta),
        "warnings_": warnings,
        "msg": "restored backup {} in {:.1f} s".format(meta["id"], report["duration_s"]),
    }


# ---------------------------------------------------------------- prune


def do_prune(module: AnsibleModule, docroot: str, backup_dir: str) -> dict:
    params = module.params
    protect = set(params["protect"])
    now = time.time()
    pruned = []
    kept = []
    for rank, meta in enumerate(list_backups(backup_dir, docroot)):
        age_days = (now - float(meta.get("created_ts", now))) / 86400.0
        reason = None
        if rank >= params["keep_count"]:
            reason = f"beyond keep_count {params['keep_count']}"
        elif params["keep_days"] > 0 and age_days > params["keep_days"]:
            reason = f"older than keep_days {params['keep_days']} ({age_days:.1f} days)"
        if reason is None or meta["id"] in protect:
            kept.append(meta["id"])
            continue
        pruned.append({"id": meta["id"], "reason": reason, "size_bytes": int(meta.get("size_bytes", 0))})
        if not module.check_mode:
            shutil.rmtree(os.path.join(backup_dir, meta["id"]))
    stale = []
    try:
        names = os.listdir(backup_dir)
    except OSError:
        names = []
    for name in names:
        full = os.path.join(backup_dir, name)
        if name.endswith(".partial") and os.path.isdir(full) and now - os.path.getmtime(full) > 86400:
            stale.append(name)
            if not module.check_mode:
                shutil.rmtree(full, ignore_errors=True)
    return {
        "changed": bool(pruned or stale),
        "pruned": pruned,
        "kept": kept,
        "stale_partials": stale,
        "msg": f"pruned {len(pruned)} backup(s), kept {len(kept)}",
    }


# ---------------------------------------------------------------- main


ARGUMENT_SPEC: dict = dict(
    action=dict(type="str", default="create", choices=["check", "create", "restore", "verify", "prune"]),
    docroot=DOCROOT_OPTION,
    backup_dir=dict(type="path", required=True),
    id=dict(type="str", default=""),
    include_db=dict(type="bool", default=True),
    db=DB_OPTION,
    exclude=dict(type="list", elements="str", default=[]),
    compression=dict(type="str", default="auto", choices=["auto", "zstd", "gzip"]),
    min_interval=dict(type="int", default=0),
    keep_count=dict(type="int", default=7),
    keep_days=dict(type="int", default=14),
    protect=dict(type="list", elements="str", default=[]),
    quarantine_dir=dict(type="path"),
    restore_files=dict(type="bool", default=True),
    clear_cache=dict(type="list", elements="str", default=[]),
    run_id=dict(type="str", default=""),
    source_docroot=dict(type="path", default=""),
    keep_files=dict(type="list", elements="str", default=[]),
)


def run(module: AnsibleModule) -> dict:
    """The module's work on validated params; raises BackupError (DbError, NotABitrixSite) with the message
    to show. main() and the scheduled runner on the host (roles/backup/files/bxops_backup_scheduled.py) call it."""
    params = module.params
    docroot = os.path.normpath(params["docroot"])
    backup_dir = os.path.normpath(params["backup_dir"])
    exclude = [p.strip("/") for p in params["exclude"] if p.strip("/")]
    action = params["action"]
    if params["keep_count"] < 1:
        raise BackupError(f"keep_count must be at least 1 (got {params['keep_count']})")
    if action != "check" and (inside(backup_dir, docroot) or inside(docroot, backup_dir)):
        raise BackupError(f"backup_dir {backup_dir} must lie outside the docroot {docroot}")
    if action == "check":
        result = do_check(module, docroot, backup_dir, exclude)
        result["changed"] = False
        return result
    require_site(docroot)
    if action == "create":
        return do_create(module, docroot, backup_dir, exclude)
    if action == "verify":
        return do_verify(module, docroot, backup_dir)
    if action == "restore":
        return do_restore(module, docroot, backup_dir)
    return do_prune(module, docroot, backup_dir)


def main() -> None:
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module)
    except (BackupError, DbError, NotABitrixSite) as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop("warnings_", []):
        module.warn(warning)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
