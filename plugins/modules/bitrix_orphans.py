#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_orphans
short_description: Find orphaned uploads of a 1C-Bitrix site; report, quarantine, restore or purge them
description:
  - Builds the set of referenced files from B(every) C(b_file) row (C(SUBDIR/FILE_NAME), all modules; rows
    with a C(HANDLER_ID) live in cloud storage and are skipped), the originals of C(b_file_duplicate) rows,
    and every C(/upload/...) path referenced from page files, templates and DB content columns. A regular
    file under the upload folder that none of these name is an orphan.
  - Both sides are streamed in byte order and merged, so memory stays flat with millions of files and rows.
    The DB rows and the disk listing (C(find -printf '%P\\0')) go through C(LC_ALL=C sort) started at
    once, in parallel; without C(sort) the DB sorts (C(ORDER BY) on a binary cast) and the disk is walked in
    Python with each folder's entries sorted so the walk order is the byte order of the paths. Content
    references are external-sorted in chunks. A stream out of order makes the module fail.
  - Service folders (O(service_folders), by default C(tmp), C(resize_cache), C(1c_catalog), C(1c_exchange))
    and symbolic links are never candidates, nor are C(.htaccess) / C(.access.php) files.
  - C(report) (the default) changes nothing. C(quarantine) moves orphans older than O(min_age) out of the
    docroot into O(quarantine_dir)/<UTC date-time>/files/<docroot-relative path>, writing and fsyncing a
    manifest line (original path, size, sha256, owner, group, mode, mtime) BEFORE each move. C(restore)
    moves them back with their bytes, owner, mode and mtime. C(purge) deletes only batches older than
    O(retention_days). Nothing is deleted in one step.
  - A batch whose run died half-way (its C(batch.json) still says C(running)) is reversed by the next run of
    any mode (files go back to where they were, the batch is marked C(reversed)); in check mode it is only
    reported.
options:
  docroot:
    description: The site's document root.
    type: path
    required: true
  mode:
    description: What to do with the orphans.
    type: str
    choices: [report, quarantine, restore, purge]
    default: report
  quarantine_dir:
    description: Where quarantine batches live; must lie outside the docroot.
    type: path
    required: true
  upload_dir:
    description:
      - The upload folder relative to the docroot.
      - Empty reads option C(main.upload_dir) (default C(upload)).
    type: str
    default: ""
  db:
    description: DB credentials (host, database, user, password) overriding C(bitrix/.settings.php).
    type: dict
    default: {}
  service_folders:
    description: Top-level folders of the upload folder that are never candidates.
    type: list
    elements: str
    default: [tmp, resize_cache, 1c_catalog, 1c_exchange]
  content_scan:
    description: Also protect C(/upload/...) paths referenced from page files, templates and DB content.
    type: bool
    default: true
  content_exclude:
    description:
      - Docroot-relative folders not scanned for references.
      - Caches, core code and backups by default; the upload folder is never scanned.
    type: list
    elements: str
    default: [bitrix/modules, bitrix/cache, bitrix/managed_cache, bitrix/stack_cache,
              bitrix/managed_flags, bitrix/cache_image, bitrix/html_pages, bitrix/tmp, bitrix/updates,
              bitrix/backup, bitrix/local_cache]
  content_extensions:
    description: File name endings scanned for references.
    type: list
    elements: str
    default: [.php, .html, .htm, .js, .css, .tpl, .twig, .json, .xml, .txt, .inc]
  content_columns:
    description: C(table.column) pairs holding HTML content; tables or columns that do not exist are skipped.
    type: list
    elements: str
    default: [b_iblock_element.PREVIEW_TEXT, b_iblock_element.DETAIL_TEXT, b_iblock_section.DESCRIPTION,
              b_iblock_element_property.VALUE, b_blog_post.DETAIL_TEXT, b_forum_message.POST_MESSAGE,
              b_landing_block.CONTENT, b_sender_message_field.VALUE, b_option.VALUE]
  min_age:
    description:
      - Seconds; younger orphans are reported but never quarantined.
      - Protects an upload whose C(b_file) row is not written yet.
    type: int
    default: 86400
  sample_size:
    description: How many orphan paths the report lists.
    type: int
    default: 20
  batches:
    description: For C(restore), the batch ids to restore; empty means all.
    type: list
    elements: str
    default: []
  paths:
    description: For C(restore), docroot-relative paths or shell patterns to restore; empty means all.
    type: list
    elements: str
    default: []
  retention_days:
    description: For C(purge), batches older than this many days are deleted; 0 is refused.
    type: int
    default: 30
author: bxops maintainers
"""

EXAMPLES = r"""
- name: Report orphaned uploads
  bxops.bitrix.bitrix_orphans:
    docroot: /home/bitrix/www
    quarantine_dir: /var/lib/bxops/quarantine
  register: __cleanup_orphans

- name: Move them to quarantine
  bxops.bitrix.bitrix_orphans:
    docroot: /home/bitrix/www
    quarantine_dir: /var/lib/bxops/quarantine
    mode: quarantine

- name: Bring some back
  bxops.bitrix.bitrix_orphans:
    docroot: /home/bitrix/www
    quarantine_dir: /var/lib/bxops/quarantine
    mode: restore
    paths: ["upload/iblock/1a2/*"]
"""

RETURN = r"""
orphans:
  description: Orphans found (report and quarantine modes)
    count, bytes, by_folder (top-level folder under the upload folder to count and bytes),
    by_age (bucket to count and bytes), young (younger than min_age, never quarantined), sample (paths).
  type: dict
  returned: mode is report or quarantine
referenced:
  description: db_rows (distinct paths b_file and duplicate rows name), content_refs (distinct content
    references), disk_files (files walked), skipped (protected names), disk_errors (unreadable folders).
  type: dict
  returned: mode is report or quarantine
quarantined:
  description: batch id, path, files and bytes moved (or that would be moved in check mode).
  type: dict
  returned: mode is quarantine
restored:
  description: files and bytes restored, conflicts (original path occupied by different content).
  type: dict
  returned: mode is restore
purged:
  description: batches, files and bytes deleted.
  type: dict
  returned: mode is purge
recovered:
  description: Batches left half-way by a killed run and reversed by this one.
  type: list
  returned: always
"""

import errno
import fnmatch
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_orphans import (
    CONTENT_COLUMNS,
    CONTENT_EXCLUDE,
    CONTENT_EXTENSIONS,
    SERVICE_FOLDERS,
    MysqlSource,
    OrphansError,
    find_orphans,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    db_credentials,
    permission_defaults,
    require_site,
)


def _fsync_dir(path: str | bytes) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomic(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def _read_json(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return data if isinstance(data, dict) else {}


def sha256_of(path: bytes | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _name(getter: Callable[[int], Any], ident: int) -> str | None:
    try:
        return str(getter(ident)[0])
    except KeyError:
        return None


def _move(src: bytes, dst: bytes, expect_sha: str | None = None) -> None:
    """rename(); across file systems copy to dst.part, fsync, verify, rename, then unlink src."""
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    part = dst + b".part"
    shutil.copyfile(src, part)
    st = os.lstat(src)
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if expect_sha is not None and sha256_of(part) != expect_sha:
        os.unlink(part)
        raise OrphansError(f"copy of {os.fsdecode(src)} does not match its checksum")
    os.chown(part, st.st_uid, st.st_gid)
    os.chmod(part, stat.S_IMODE(st.st_mode))
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(part, dst)
    os.unlink(src)


class Quarantine:
    """Batches in quarantine_dir: <id>/batch.json (state), <id>/manifest.jsonl, <id>/files/<docroot path>."""

    def __init__(self, root: str, docroot: str) -> None:
        self.root = root
        self.docroot = docroot

    # -- listing
    def batches(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        for name in names:
            meta_path = os.path.join(self.root, name, "batch.json")
            if os.path.isfile(meta_path):
                try:
                    out.append((name, _read_json(meta_path)))
                except (OSError, ValueError):
                    out.append((name, {"state": "unreadable"}))
        return out

    def manifest(self, batch: str) -> Iterator[dict[str, Any]]:
        path = os.path.join(self.root, batch, "manifest.jsonl")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break  # a line torn by a crash is never followed by its move
                yield json.loads(line)

    def qpath(self, batch: str, rel: str) -> bytes:
        return os.fsencode(os.path.join(self.root, batch, "files", rel))

    def opath(self, rel: str) -> bytes:
        return os.fsencode(os.path.join(self.docroot, rel))

    # -- quarantine
    def open_batch(self, upload_dir: str) -> Batch:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
        name, n = stamp, 1
        while os.path.exists(os.path.join(self.root, name)):
            n += 1
            name = f"{stamp}.{n}"
        path = os.path.join(self.root, name)
        os.mkdir(path, 0o700)
        os.mkdir(os.path.join(path, "files"), 0o700)
        _write_json_atomic(os.path.join(path, "batch.json"), {
            "id": name, "state": "running", "created": int(time.time()), "docroot": self.docroot,
            "upload_dir": upload_dir, "pid": os.getpid(),
        })
        _fsync_dir(self.root)
        return Batch(self, name)

    # -- recovery of a batch whose run died
    def reverse(self, batch: str, meta: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"batch": batch, "returned": 0, "already_in_place": 0, "lost": []}
        for entry in self.manifest(batch):
            if entry.get("reverted"):
                continue
            rel = entry["path"]
            q, o = self.qpath(batch, rel), self.opath(rel)
            part = q + b".part"
            if os.path.lexists(part):
                os.unlink(part)  # an interrupted cross-device copy; the original was not unlinked yet
            if os.path.lexists(q):
                if os.path.lexists(o):
                    # copied across file systems and killed before the original was unlinked
                    if sha256_of(o) == entry["sha256"]:
                        os.unlink(q)
                        result["already_in_place"] += 1
                    else:
                        result["lost"].append({"path": rel, "why": "original path holds other content"})
                    continue
                os.makedirs(os.path.dirname(o), exist_ok=True)
                _move(q, o, entry["sha256"])
                _apply_meta(o, entry)
                result["returned"] += 1
            elif os.path.lexists(o):
                result["already_in_place"] += 1
            else:
                result["lost"].append({"path": rel, "why": "neither in place nor in quarantine"})
        meta = dict(meta, state="reversed", reversed_at=int(time.time()))
        _write_json_atomic(os.path.join(self.root, batch, "batch.json"), meta)
        return result


def _apply_meta(path: bytes, entry: dict[str, Any]) -> None:
    os.chown(path, int(entry["uid"]), int(entry["gid"]), follow_symlinks=False)
    os.chmod(path, int(entry["mode"], 8))
    mtime_ns = int(entry["mtime_ns"])
    os.utime(path, ns=(mtime_ns, mtime_ns))


class Batch:
    def __init__(self, quarantine: Quarantine, name: str) -> None:
        self.q = quarantine
        self.name = name
        self.path = os.path.join(quarantine.root, name)
        self.files = 0
        self.bytes = 0
        self.skipped_changed = 0
        self.manifest = open(os.path.join(self.path, "manifest.jsonl"), "a", encoding="utf-8")  # noqa: SIM115
        self.made_dirs: set[bytes] = set()
        self.hook: Callable[[int], None] | None = None

    def _line(self, data: dict[str, Any]) -> None:
        self.manifest.write(json.dumps(data, sort_keys=True) + "\n")
        self.manifest.flush()
        os.fsync(self.manifest.fileno())

    def add(self, rel: str) -> bool:
        """Quarantine one docroot-relative file: manifest line fsynced first, then the move."""
        src = self.q.opath(rel)
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        digest = sha256_of(src)
        entry = {
            "path": rel, "size": st.st_size, "sha256": digest, "uid": st.st_uid, "gid": st.st_gid,
            "owner": _name(pwd.getpwuid, st.st_uid), "group": _name(grp.getgrgid, st.st_gid),
            "mode": f"{stat.S_IMODE(st.st_mode):04o}", "mtime": int(st.st_mtime), "mtime_ns": st.st_mtime_ns,
        }
        self._line(entry)
        if self.hook is not None:
            self.hook(self.files)
        dst = self.q.qpath(self.name, rel)
        parent = os.path.dirname(dst)
        if parent not in self.made_dirs:
            os.makedirs(parent, mode=0o700, exist_ok=True)
            self.made_dirs.add(parent)
        _move(src, dst, digest)
        after = os.lstat(dst)
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            # written to while we hashed it: it is in use, put it back and say so in the manifest
            _move(dst, src)
            self._line({"path": rel, "reverted": True, "why": "changed while being quarantined"})
            self.skipped_changed += 1
            return False
        self.files += 1
        self.bytes += st.st_size
        return True

    def close(self) -> None:
        self.manifest.close()
        meta_path = os.path.join(self.path, "batch.json")
        meta = _read_json(meta_path)
        meta.update(state="complete", files=self.files, bytes=self.bytes, completed=int(time.time()))
        _write_json_atomic(meta_path, meta)


def restore(quarantine: Quarantine, batches: list[str], patterns: list[str], dir_mode: int,
            check: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"files": 0, "bytes": 0, "conflicts": [], "batches": []}
    known = dict(quarantine.batches())
    unknown = [b for b in batches if b not in known]
    if unknown:
        raise OrphansError(f"no such quarantine batch: {', '.join(unknown)} (known: {', '.join(known)})")
    for name, meta in sorted(known.items()):
        if (batches and name not in batches) or meta.get("state") != "complete":
            continue
        touched = False
        for entry in quarantine.manifest(name):
            if entry.get("reverted"):
                continue
            rel = entry["path"]
            if patterns and not any(rel == p or fnmatch.fnmatchcase(rel, p) for p in patterns):
                continue
            q, o = quarantine.qpath(name, rel), quarantine.opath(rel)
            if not os.path.lexists(q):
                continue  # restored before
            if os.path.lexists(o):
                if sha256_of(o) == entry["sha256"]:
                    if not check:
                        os.unlink(q)
                    continue
                result["conflicts"].append(
                    {"path": rel, "batch": name, "why": "original path holds other content"})
                continue
            touched = True
            result["files"] += 1
            result["bytes"] += int(entry["size"])
            if check:
                continue
            _makedirs_owned(os.path.dirname(o), int(entry["uid"]), int(entry["gid"]), dir_mode)
            _move(q, o, entry["sha256"])
            _apply_meta(o, entry)
        if touched:
            result["batches"].append(name)
    return result


def _makedirs_owned(path: bytes, uid: int, gid: int, mode: int) -> None:
    if os.path.isdir(path):
        return
    _makedirs_owned(os.path.dirname(path), uid, gid, mode)
    os.mkdir(path, mode)
    os.chmod(path, mode)
    os.chown(path, uid, gid)


def purge(quarantine: Quarantine, retention_days: int, check: bool, now: float | None = None
          ) -> dict[str, Any]:
    if retention_days <= 0:
        raise OrphansError(
            f"retention_days must be at least 1 (got {retention_days}): purge never deletes fresh quarantine")
    limit = (now if now is not None else time.time()) - retention_days * 86400
    result: dict[str, Any] = {"batches": [], "files": 0, "bytes": 0, "kept": 0}
    for name, meta in quarantine.batches():
        if meta.get("state") == "running":
            result["kept"] += 1
            continue
        if float(meta.get("created", now or time.time())) > limit:
            result["kept"] += 1
            continue
        files_root = os.path.join(quarantine.root, name, "files")
        for dirpath, _dirs, names in os.walk(files_root):
            for fname in names:
                try:
                    result["bytes"] += os.lstat(os.path.join(dirpath, fname)).st_size
                    result["files"] += 1
                except OSError:
                    pass
        result["batches"].append(name)
        if not check:
            shutil.rmtree(os.path.join(quarantine.root, name))
    return result


# ---------------------------------------------------------------- the run


def recover(quarantine: Quarantine, check: bool) -> list[dict[str, Any]]:
    """Reverse batches left 'running' by a killed run (check mode: only list them)."""
    out = []
    for name, meta in quarantine.batches():
        if meta.get("state") != "running":
            continue
        pid = meta.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid) and _is_us(pid):
            raise OrphansError(f"quarantine batch {name} is being written by a live process {pid}")
        if check:
            out.append({"batch": name, "would_reverse": True})
        else:
            out.append(quarantine.reverse(name, meta))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_us(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"orphans" in handle.read()
    except OSError:
        return False


def check_locations(docroot: str, quarantine_dir: str) -> None:
    real_doc = os.path.realpath(docroot)
    real_q = os.path.realpath(quarantine_dir)
    if real_q == real_doc or real_q.startswith(real_doc.rstrip("/") + "/"):
        raise OrphansError(
            f"quarantine_dir {quarantine_dir} lies inside the docroot {docroot}: quarantined files would "
            "still be served and walked; choose a folder outside it (e.g. /var/lib/bxops/quarantine)")
    if real_doc.startswith(real_q.rstrip("/") + "/"):
        raise OrphansError(f"the docroot {docroot} lies inside quarantine_dir {quarantine_dir}")


def run(params: dict[str, Any], source_factory: Callable[[], Any], check: bool,
        hook: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Everything but Ansible: tests call this with a fake row source."""
    docroot = os.path.normpath(params["docroot"])
    mode = params.get("mode", "report")
    quarantine = Quarantine(os.path.normpath(params["quarantine_dir"]), docroot)
    check_locations(docroot, quarantine.root)
    if mode == "purge" and int(params.get("retention_days", 30)) <= 0:
        raise OrphansError(f"retention_days must be at least 1 (got {params.get('retention_days')}): "
                           "purge never deletes fresh quarantine")
    result: dict[str, Any] = {"changed": False, "mode": mode}
    result["recovered"] = recover(quarantine, check)
    if any(r.get("returned") for r in result["recovered"]):
        result["changed"] = True
    lost = [item for r in result["recovered"] for item in r.get("lost", [])]
    if lost:
        raise OrphansError(f"recovery of an interrupted quarantine found files it cannot place: {lost[:10]}")

    if mode in ("report", "quarantine"):
        source = source_factory()
        upload_dir = (params.get("upload_dir") or "").strip("/") or source.upload_dir()
        result["upload_dir"] = upload_dir
        batch: Batch | None = None
        would = {"files": 0, "bytes": 0}

        def on_orphan(path: str, st: os.stat_result) -> None:
            nonlocal batch
            if mode != "quarantine":
                return
            if check:
                would["files"] += 1
                would["bytes"] += st.st_size
                return
            if batch is None:
                batch = quarantine.open_batch(upload_dir)
                batch.hook = hook
            batch.add(path)

        try:
            result.update(find_orphans(docroot, upload_dir, source, params, on_orphan))
        finally:
            if batch is not None:
                batch.close()
        if mode == "quarantine":
            if batch is not None:
                result["quarantined"] = {"batch": batch.name, "path": batch.path, "files": batch.files,
                                         "bytes": batch.bytes, "skipped_changed": batch.skipped_changed}
                result["changed"] = result["changed"] or batch.files > 0
            else:
                result["quarantined"] = {"batch": None, "path": None, **would}
                result["changed"] = result["changed"] or would["files"] > 0
    elif mode == "restore":
        dir_mode = int(params.get("dir_mode", 0o755))
        result["restored"] = restore(quarantine, list(params.get("batches") or []),
                                     list(params.get("paths") or []), dir_mode, check)
        result["changed"] = result["changed"] or result["restored"]["files"] > 0
    elif mode == "purge":
        result["purged"] = purge(quarantine, int(params["retention_days"]), check)
        result["changed"] = result["changed"] or bool(result["purged"]["batches"])
    else:
        raise OrphansError(f"unknown mode {mode!r}")
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=dict(type="path", required=True),
            mode=dict(type="str", choices=["report", "quarantine", "restore", "purge"], default="report"),
            quarantine_dir=dict(type="path", required=True),
            upload_dir=dict(type="str", default=""),
            db=dict(type="dict", default={}, no_log=True),
            service_folders=dict(type="list", elements="str", default=SERVICE_FOLDERS),
            content_scan=dict(type="bool", default=True),
            content_exclude=dict(type="list", elements="str", default=CONTENT_EXCLUDE),
            content_extensions=dict(type="list", elements="str", default=CONTENT_EXTENSIONS),
            content_columns=dict(type="list", elements="str", default=CONTENT_COLUMNS),
            min_age=dict(type="int", default=86400),
            sample_size=dict(type="int", default=20),
            batches=dict(type="list", elements="str", default=[]),
            paths=dict(type="list", elements="str", default=[]),
            retention_days=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    try:
        require_site(params["docroot"])
    except NotABitrixSite as exc:
        module.fail_json(msg=str(exc))
    params["dir_mode"] = permission_defaults(params["docroot"])[1]
    clients: list[Any] = []

    def source_factory() -> MysqlSource:
        creds = db_credentials(params["docroot"], params["db"])
        client = MysqlClient(creds)
        clients.append(client)
        return MysqlSource(client)

    try:
        result = run(params, source_factory, module.check_mode)
    except (OrphansError, RuntimeError, OSError) as exc:
        module.fail_json(msg=str(exc))
    finally:
        for client in clients:
            client.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
