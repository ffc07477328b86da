#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_permissions
short_description: Set owner, group and modes of a 1C-Bitrix site in one walk, changing only what deviates
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
description:
  - Walks O(docroot) once (no symlink is ever followed, nothing outside the docroot is touched) and
    compares every folder, file and symlink with the wanted owner, group and mode. Only entries that
    deviate are changed.
  - Folder and file modes default to the site's own C(BX_DIR_PERMISSIONS) / C(BX_FILE_PERMISSIONS)
    from C(dbconn.php) (C(local/php_interface) wins), and to the core's C(0755) / C(0644) when absent.
  - Folders listed in O(writable) (and the site's C(BX_TEMPORARY_FILES_DIRECTORY) when it lies in the
    docroot) and everything below them are kept writable by the owner (folders C(u+rwx), files C(u+rw)),
    even when the general modes are read-only.
  - Files listed in O(secrets) get O(secret_mode), which never grants anything to others.
  - Nothing is ever made world-writable, and whatever already is gets fixed; a site whose
    C(dbconn.php) asks for a world-writable mode gets that bit dropped (with a warning).
  - Changes go through the parent folder's descriptor without following symlinks, so a path swapped for a
    symlink during the walk cannot redirect a change outside the docroot. Regular files with several hard
    links that belong to another user are reported and left alone (they may be links to files elsewhere).
  - Before each change the previous owner, group and mode go to O(journal) (JSON lines), and
    O(restore) puts a journal's previous state back.
  - Check mode reports what would change and touches nothing.
options:
  owner:
    description: User that must own everything (name, or a numeric uid).
    type: str
    required: true
  group:
    description: Group that must own everything (name or numeric gid); defaults to O(owner)'s primary group.
    type: str
  file_mode:
    description: Mode for files as an octal string; empty means the site's C(BX_FILE_PERMISSIONS) or C(0644).
    type: str
    default: ""
  dir_mode:
    description: Mode for folders as an octal string; empty means the site's C(BX_DIR_PERMISSIONS) or C(0755).
    type: str
    default: ""
  secret_mode:
    description: Mode for the files in O(secrets); must not grant anything to others.
    type: str
    default: "0600"
  secrets:
    description: Paths relative to the docroot that hold secrets (missing ones are skipped).
    type: list
    elements: str
    default: []
  writable:
    description: Paths (relative to the docroot) the owner must be able to write, with everything below them.
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Entries left alone entirely (not changed, not descended into, not reported).
      - A pattern without C(/) matches an entry name at any depth (e.g. C(.git)); a pattern with C(/) matches
        the path relative to the docroot (e.g. C(upload/backup_*)). Shell wildcards allowed.
    type: list
    elements: str
    default: []
  preserve_exec:
    description:
      - Keep files that have the owner's execute bit executable (the wanted mode plus C(x) where it grants
        C(r)), so custom shell scripts keep working. Set to false to strip execute bits everywhere.
    type: bool
    default: true
  sample_size:
    description: How many paths to return per kind of fix.
    type: int
    default: 20
  journal:
    description: Gets the previous state of each changed entry (JSON lines), written before the change.
    type: path
  restore:
    description: Put back the previous state recorded in this journal instead of walking the tree.
    type: path
notes:
  - Runs as root on the host; stdlib-only.
"""

EXAMPLES = r"""
- name: Fix owners and modes of the site
  bxops.bitrix.bitrix_permissions:
    docroot: /home/bitrix/www
    owner: bitrix
    secrets: [bitrix/.settings.php, bitrix/php_interface/dbconn.php, bitrix/license_key.php]
    writable: [bitrix, upload, upload/1c_catalog, upload/1c_exchange]
    journal: /var/lib/bxops/permissions/20260101T000000Z.jsonl
  register: __permissions_result

- name: Undo that run
  bxops.bitrix.bitrix_permissions:
    docroot: /home/bitrix/www
    owner: bitrix
    restore: /var/lib/bxops/permissions/20260101T000000Z.jsonl
"""

RETURN = r"""
counts:
  description:
    - Entries fixed (or to fix in check mode) per kind. One entry can count under several kinds.
    - C(owner), C(group) wrong owner/group; C(world_writable) writable by others; C(secret) a secret file
      with the wrong mode; C(mode) any other mode deviation; C(paths) distinct entries changed.
  type: dict
  returned: always
  sample: {"owner": 120, "group": 121, "mode": 30, "world_writable": 4, "secret": 2, "paths": 150}
samples:
  description: Up to O(sample_size) paths (relative to the docroot) per kind.
  type: dict
  returned: always
scanned:
  description: Entries walked by type (dirs, files, symlinks, other), plus excluded and vanished ones.
  type: dict
  returned: always
modes:
  description: The modes applied (octal strings) and where file/dir modes came from (option, dbconn, default).
  type: dict
  returned: always
skipped:
  description: Entries left alone on purpose (hard-linked files of another user, special files), with reasons.
  type: list
  returned: always
writable_missing:
  description: Entries of O(writable) that do not exist (the core creates them when it needs them).
  type: list
  returned: always
errors:
  description: Entries that could not be changed, with the error; the module fails when there are any.
  type: list
  returned: always
journal:
  description: The journal written (absent when nothing changed or in check mode).
  type: str
  returned: when changed
"""

import fnmatch
import grp
import json
import os
import pwd
import re
import stat
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    DOCROOT_OPTION,
    OPEN_DIR,
    Anchor,
    UnsafePath,
    chmod_at,
    describe,
    same_file,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    NotABitrixSite,
    permission_defaults,
    read_dbconn_constants,
    require_site,
)

KINDS = ("owner", "group", "mode", "world_writable", "secret")
_MODE_RE = re.compile(r"^0?[0-7]{3}$")


class PolicyError(ValueError):
    """Bad input, refused before any change; the message names the option."""


def parse_mode(raw: Any, option: str) -> int:
    """An octal mode string ('0644', '755') or an int; refuses anything else or above 0777."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _MODE_RE.match(raw.strip()):
        value = int(raw.strip(), 8)
    else:
        raise PolicyError(
            f"{option}={raw!r} is not a mode: give three or four octal digits as a quoted string, e.g. '0644'"
        )
    if not 0 <= value <= 0o777:
        raise PolicyError(f"{option}={raw!r}: only permission bits 0000-0777 are allowed")
    return value


def check_mode_value(value: int, option: str, kind: str) -> None:
    """Refuse modes that are world-writable, or that the site user could not use."""
    if value & 0o002:
        raise PolicyError(f"{option}={value:04o} is world-writable: bxops never makes anything writable by others")
    if kind == "dir" and value & 0o500 != 0o500:
        raise PolicyError(f"{option}={value:04o}: the owner must be able to read and enter folders (u+rx)")
    if kind == "file" and value & 0o400 != 0o400:
        raise PolicyError(f"{option}={value:04o}: the owner must be able to read files (u+r)")
    if kind == "file" and value & 0o111:
        raise PolicyError(f"{option}={value:04o} has execute bits: files get them only through preserve_exec")
    if kind == "secret" and (value & 0o007 or value & 0o400 != 0o400 or value & 0o111):
        raise PolicyError(
            f"{option}={value:04o}: secrets must be readable by the owner, never by others, "
            "and not executable (e.g. '0600' or '0640')"
        )


def resolve_user(owner: str, option: str = "owner") -> tuple[int, int]:
    """(uid, primary gid) of a user name or numeric uid."""
    try:
        entry = pwd.getpwnam(owner)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        if owner.isdigit():
            return int(owner), int(owner)
    raise PolicyError(f"{option}={owner!r}: no such user on this host")


def resolve_group(group: str, option: str = "group") -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if group.isdigit():
            return int(group)
    raise PolicyError(f"{option}={group!r}: no such group on this host")


def _clean_rel(rel: str, option: str) -> str:
    rel = rel.strip()
    if rel.startswith("/"):
        raise PolicyError(f"{option}: {rel!r} must be relative to the docroot, not absolute")
    rel = rel.rstrip("/")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise PolicyError(f"{option}: {rel!r} must be a path inside the docroot, relative to it")
    return "/".join(parts)


class Policy:
    """What the tree must look like. Build with Policy.build (validates everything first)."""

    def __init__(self) -> None:
        self.uid = 0
        self.gid = 0
        self.file_mode = 0o644
        self.dir_mode = 0o755
        self.secret_mode = 0o600
        self.secrets: set[str] = set()
        self.writable: set[str] = set()
        self.exclude_names: set[str] = set()
        self.exclude_name_globs: list[str] = []
        self.exclude_paths: list[str] = []
        self.preserve_exec = True
        self.sources: dict[str, str] = {}
        self.warnings: list[str] = []

    @classmethod
    def build(
        cls,
        docroot: str,
        owner: str,
        group: str | None = None,
        file_mode: Any = "",
        dir_mode: Any = "",
        secret_mode: Any = "0600",
        secrets: list[str] | None = None,
        writable: list[str] | None = None,
        exclude: list[str] | None = None,
        preserve_exec: bool = True,
    ) -> Policy:
        policy = cls()
        policy.uid, primary_gid = resolve_user(owner)
        policy.gid = resolve_group(group) if group else primary_gid
        site_file, site_dir = permission_defaults(docroot)
        constants = read_dbconn_constants(docroot)
        for name, raw, site_value, constant, kind in (
            ("file_mode", file_mode, site_file, "BX_FILE_PERMISSIONS", "file"),
            ("dir_mode", dir_mode, site_dir, "BX_DIR_PERMISSIONS", "dir"),
        ):
            if raw not in ("", None):
                value = parse_mode(raw, name)
                policy.sources[name] = "option"
            else:
                value = site_value
                policy.sources[name] = "dbconn" if constant in constants else "default"
                if value & 0o002:
                    policy.warnings.append(
                        f"dbconn.php sets {constant} to {value:04o} (world-writable); "
                        f"using {value & ~0o002:04o} instead"
                    )
                    value &= ~0o002
                if kind == "file" and value & 0o111:
                    policy.warnings.append(f"dbconn.php {constant}={value:04o} has execute bits; dropped")
                    value &= ~0o111
                if value > 0o777:
                    value &= 0o777
            check_mode_value(value, name, kind)
            setattr(policy, name, value)
        policy.secret_mode = parse_mode(secret_mode, "secret_mode")
        check_mode_value(policy.secret_mode, "secret_mode", "secret")
        policy.secrets = {_clean_rel(p, "secrets") for p in (secrets or [])}
        policy.writable = {_clean_rel(p, "writable") for p in (writable or [])}
        temp_dir = constants.get("BX_TEMPORARY_FILES_DIRECTORY", "")
        real_root = os.path.realpath(docroot)
        if temp_dir.startswith("/") and os.path.realpath(temp_dir).startswith(real_root + "/"):
            policy.writable.add(os.path.relpath(os.path.realpath(temp_dir), real_root))
        for pattern in exclude or []:
            pattern = pattern.strip()
            if not pattern or pattern in (".", "/"):
                raise PolicyError(f"exclude: {pattern!r} would exclude the whole docroot")
            if pattern.startswith("/"):
                raise PolicyError(f"exclude: {pattern!r} must be relative to the docroot, not absolute")
            if "/" in pattern.strip("/"):
                policy.exclude_paths.append(_clean_rel(pattern, "exclude"))
            elif any(ch in pattern for ch in "*?["):
                policy.exclude_name_globs.append(pattern.strip("/"))
            else:
                policy.exclude_names.add(pattern.strip("/"))
        policy.preserve_exec = bool(preserve_exec)
        return policy

    def modes(self) -> dict[str, str]:
        return {
            "file_mode": f"{self.file_mode:04o}",
            "dir_mode": f"{self.dir_mode:04o}",
            "secret_mode": f"{self.secret_mode:04o}",
            "file_mode_source": self.sources.get("file_mode", ""),
            "dir_mode_source": self.sources.get("dir_mode", ""),
        }


def _exec_variant(mode: int) -> int:
    """mode plus x wherever it grants r (0644 -> 0755, 0640 -> 0750)."""
    return mode | ((mode & 0o444) >> 2)


class Walker:
    """One pass over the tree. Counters and samples only; never holds the list of paths."""

    def __init__(
        self,
        docroot: str,
        policy: Policy,
        check_mode: bool = False,
        sample_size: int = 20,
        journal: str | None = None,
    ) -> None:
        self.docroot = docroot
        self.policy = policy
        self.check_mode = check_mode
        self.sample_size = max(0, int(sample_size))
        self.journal_path = None if check_mode else journal
        self._journal: Any = None
        self._anchor: Anchor | None = None
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.counts["paths"] = 0
        self.samples: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self.scanned = {"dirs": 0, "files": 0, "symlinks": 0, "other": 0, "excluded": 0, "vanished": 0}
        self.skipped: list[dict[str, str]] = []
        self.skipped_count = 0
        self.errors: list[dict[str, str]] = []
        self.error_count = 0
        # Subtrees holding something special, keyed by folder path relative to the docroot:
        # {folder: {name: (is_secret, is_writable_root, is_excluded)}}.
        self._special: dict[str, dict[str, tuple[bool, bool, bool]]] = {}
        for rel in policy.secrets:
            self._mark(rel, 0)
        for rel in policy.writable:
            self._mark(rel, 1)
        for rel in policy.exclude_paths:
            if not any(ch in rel for ch in "*?["):
                self._mark(rel, 2)
        self._path_globs = [p for p in policy.exclude_paths if any(ch in p for ch in "*?[")]

    def _mark(self, rel: str, which: int) -> None:
        parent, _, name = rel.rpartition("/")
        flags = list(self._special.setdefault(parent, {}).get(name, (False, False, False)))
        flags[which] = True
        self._special[parent][name] = (flags[0], flags[1], flags[2])

    # --- bookkeeping -------------------------------------------------------------------------
    def _sample(self, kind: str, rel: str) -> None:
        self.counts[kind] += 1
        bucket = self.samples[kind]
        if len(bucket) < self.sample_size:
            bucket.append(rel)

    def _error(self, rel: str, exc: BaseException) -> None:
        self.error_count += 1
        if len(self.errors) < max(self.sample_size, 20):
            self.errors.append({"path": rel, "error": str(exc)})

    def _skip(self, rel: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < max(self.sample_size, 20):
            self.skipped.append({"path": rel, "reason": reason})

    def _record(self, rel: str, st: os.stat_result) -> None:
        if self.journal_path is None:
            return
        if self._journal is None:
            parent = os.path.dirname(self.journal_path)
            if parent:
                os.makedirs(parent, mode=0o700, exist_ok=True)
            fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            self._journal = os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape")
            self._journal.write(
                json.dumps({"docroot": self.docroot, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"
            )
        self._journal.write(json.dumps([rel, st.st_uid, st.st_gid, f"{stat.S_IMODE(st.st_mode):04o}"]) + "\n")

    # --- the fix -----------------------------------------------------------------------------
    def _fix(self, dir_fd: int | None, name: str, rel: str, st: os.stat_result, want_mode: int, secret: bool) -> None:
        """Compare one entry (already lstat'ed) with the policy and change what deviates."""
        policy = self.policy
        mode = st.st_mode
        is_link = stat.S_ISLNK(mode)
        wrong_uid = st.st_uid != policy.uid
        wrong_gid = st.st_gid != policy.gid
        perm = stat.S_IMODE(mode)
        wrong_mode = not is_link and perm != want_mode
        if not (wrong_uid or wrong_gid or wrong_mode):
            return
        if stat.S_ISREG(mode) and st.st_nlink > 1 and wrong_uid:
            self._skip(rel, f"regular file with {st.st_nlink} hard links owned by uid {st.st_uid}")
            return
        if wrong_uid:
            self._sample("owner", rel)
        if wrong_gid:
            self._sample("group", rel)
        if wrong_mode:
            if perm & 0o002:
                self._sample("world_writable", rel)
            elif secret:
                self._sample("secret", rel)
            else:
                self._sample("mode", rel)
        self.counts["paths"] += 1
        if self.check_mode:
            return
        try:
            self._record(rel, st)
            if dir_fd is None:  # the docroot itself: changed through the anchor's descriptor
                assert self._anchor is not None
                if wrong_uid or wrong_gid:
                    self._anchor.chown("", policy.uid, policy.gid)
                if wrong_mode:
                    self._anchor.chmod("", want_mode)
                return
            if wrong_uid or wrong_gid:
                os.chown(name, policy.uid, policy.gid, dir_fd=dir_fd, follow_symlinks=False)
            if wrong_mode:
                chmod_at(dir_fd, name, want_mode)
        except FileNotFoundError:
            self.scanned["vanished"] += 1
        except (OSError, NotImplementedError, ValueError) as exc:
            # ValueError: the entry became a symlink since it was read (fchmodat refuses to follow it).
            self._error(rel, exc)

    def _want(self, st_mode: int, writable: bool, secret: bool) -> int:
        policy = self.policy
        if stat.S_ISDIR(st_mode):
            return policy.dir_mode | 0o700 if writable else policy.dir_mode
        if secret:
            return policy.secret_mode
        want = policy.file_mode | 0o600 if writable else policy.file_mode
        if policy.preserve_exec and st_mode & 0o100:
            want = _exec_variant(want)
        return want

    def run(self) -> Walker:
        """Walk from the docroot's anchor. The inner loop is this module's own (a fast path for the 1M-file
        case, which the layer's generic, sorted walk would slow down), but it goes down exactly as the
        layer does: every folder opened with the layer's OPEN_DIR (no symlink followed) relative to its
        parent's descriptor, and checked to be the folder that was scanned."""
        policy = self.policy
        try:
            self._anchor = Anchor(self.docroot)
        except UnsafePath as exc:
            self._error(".", exc)
            return self
        try:
            st = os.fstat(self._anchor.fd)
            self.scanned["dirs"] += 1
            self._fix(None, "", ".", st, self._want(st.st_mode, False, False), False)
            self._walk(self._anchor.fd, "", "" in policy.writable)
        finally:
            if self._journal is not None:
                self._journal.close()
        return self

    def _walk(self, dir_fd: int, rel_dir: str, writable: bool) -> None:
        """Fix the entries of one folder, then descend into its sub-folders (depth first)."""
        policy = self.policy
        uid, gid = policy.uid, policy.gid
        if writable:
            want_file = stat.S_IFREG | policy.file_mode | 0o600
            want_dir = stat.S_IFDIR | policy.dir_mode | 0o700
        else:
            want_file = stat.S_IFREG | policy.file_mode
            want_dir = stat.S_IFDIR | policy.dir_mode
        want_exec = stat.S_IFREG | _exec_variant(want_file & 0o777) if policy.preserve_exec else -1
        special = self._special.get(rel_dir)
        check_exclude = bool(policy.exclude_names or policy.exclude_name_globs or self._path_globs)
        prefix = rel_dir + "/" if rel_dir else ""
        subdirs: list[tuple[str, bool, os.stat_result]] = []
        scanned = self.scanned
        n_files = n_dirs = 0
        try:
            iterator = os.scandir(dir_fd)
        except OSError as exc:
            self._error(rel_dir or ".", exc)
            return
        with iterator:
            for entry in iterator:
                name = entry.name
                if check_exclude and self._excluded_name(name, prefix):
                    scanned["excluded"] += 1
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    scanned["vanished"] += 1
                    continue
                except OSError as exc:
                    self._error(prefix + name, exc)
                    continue
                mode = st.st_mode
                # Fast path: the common case of an entry that is already right.
                if special is None or name not in special:
                    if mode in (want_file, want_exec):
                        n_files += 1
                        if st.st_uid != uid or st.st_gid != gid:
                            self._fix(dir_fd, name, prefix + name, st, mode & 0o777, False)
                        continue
                    if mode == want_dir:
                        n_dirs += 1
                        if st.st_uid != uid or st.st_gid != gid:
                            self._fix(dir_fd, name, prefix + name, st, mode & 0o777, False)
                        subdirs.append((name, writable, st))
                        continue
                    secret = writable_root = False
                else:
                    secret, writable_root, excluded = special[name]
                    if excluded:
                        scanned["excluded"] += 1
                        continue
                sub_writable = writable or writable_root
                if stat.S_ISDIR(mode):
                    n_dirs += 1
                    self._fix(dir_fd, name, prefix + name, st, self._want(mode, sub_writable, False), False)
                    subdirs.append((name, sub_writable, st))
                elif stat.S_ISREG(mode):
                    n_files += 1
                    self._fix(dir_fd, name, prefix + name, st, self._want(mode, sub_writable, secret), secret)
                elif stat.S_ISLNK(mode):
                    scanned["symlinks"] += 1
                    self._fix(dir_fd, name, prefix + name, st, 0, False)
                else:
                    scanned["other"] += 1
                    self._skip(prefix + name, "not a regular file, folder or symlink")
        scanned["files"] += n_files
        scanned["dirs"] += n_dirs
        for name, sub_writable, seen in subdirs:
            try:
                fd = os.open(name, OPEN_DIR, dir_fd=dir_fd)
            except FileNotFoundError:
                scanned["vanished"] += 1
                continue
            except OSError as exc:  # e.g. swapped for a symlink since the scan (ELOOP)
                self._error(prefix + name, UnsafePath(f"not entered {describe(prefix + name)}: {exc.strerror}"))
                continue
            try:
                if same_file(os.fstat(fd), seen):
                    self._walk(fd, prefix + name, sub_writable)
                else:
                    replaced = UnsafePath(f"not entered {describe(prefix + name)}: replaced during the walk")
                    self._error(prefix + name, replaced)
            finally:
                os.close(fd)

    def _excluded_name(self, name: str, prefix: str) -> bool:
        policy = self.policy
        if name in policy.exclude_names:
            return True
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in policy.exclude_name_globs):
            return True
        return bool(self._path_globs) and any(
            fnmatch.fnmatchcase(prefix + name, pattern) for pattern in self._path_globs
        )

    def result(self) -> dict[str, Any]:
        anchor = self._anchor
        writable_missing = sorted(
            rel for rel in self.policy.writable if anchor is None or not anchor.exists(rel)
        )
        if anchor is not None:
            anchor.close()
        result: dict[str, Any] = {
            "changed": self.counts["paths"] > 0,
            "counts": dict(self.counts),
            "samples": self.samples,
            "scanned": dict(self.scanned),
            "modes": self.policy.modes(),
            "skipped": self.skipped,
            "skipped_count": self.skipped_count,
            "writable_missing": writable_missing,
            "errors": self.errors,
            "error_count": self.error_count,
        }
        if self.journal_path and self._journal is not None:
            result["journal"] = self.journal_path
        return result


def fix_tree(
    docroot: str,
    policy: Policy,
    check_mode: bool = False,
    sample_size: int = 20,
    journal: str | None = None,
) -> dict[str, Any]:
    """Walk docroot once, fixing what deviates from policy (nothing in check mode)."""
    walker = Walker(docroot, policy, check_mode=check_mode, sample_size=sample_size, journal=journal)
    return walker.run().result()


def restore_journal(docroot: str, journal: str, check_mode: bool = False) -> dict[str, Any]:
    """Put back the owner, group and mode recorded in a journal, last change first.

    Every entry is reached from the docroot's anchor without following a symlink; a symlink gets its
    owner back (never its target's), a path through a symlinked folder is an error, never followed."""
    restored = 0
    errors: list[dict[str, str]] = []
    with open(journal, encoding="utf-8", errors="surrogateescape") as handle:
        header = json.loads(handle.readline() or "{}")
        if header.get("docroot") and os.path.realpath(header["docroot"]) != os.path.realpath(docroot):
            raise PolicyError(f"restore: {journal} was written for {header['docroot']}, not {docroot}")
        lines = handle.readlines()
    try:
        anchor = Anchor(docroot)
    except UnsafePath as exc:
        raise OSError(str(exc)) from exc
    with anchor:
        for line in reversed(lines):
            rel, uid, gid, mode = json.loads(line)
            restored += 1
            if check_mode:
                continue
            target = "" if rel == "." else rel
            try:
                is_link = bool(target) and stat.S_ISLNK(anchor.lstat(target).st_mode)
                anchor.chown(target, uid, gid)
                if not is_link:
                    anchor.chmod(target, int(mode, 8))
            except FileNotFoundError:
                continue
            except (OSError, NotImplementedError, ValueError, UnsafePath) as exc:
                errors.append({"path": rel, "error": str(exc)})
    return {"changed": restored > 0, "restored": restored, "errors": errors, "error_count": len(errors)}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            owner=dict(type="str", required=True),
            group=dict(type="str"),
            file_mode=dict(type="str", default=""),
            dir_mode=dict(type="str", default=""),
            secret_mode=dict(type="str", default="0600"),
            secrets=dict(type="list", elements="str", default=[]),
            writable=dict(type="list", elements="str", default=[]),
            exclude=dict(type="list", elements="str", default=[]),
            preserve_exec=dict(type="bool", default=True),
            sample_size=dict(type="int", default=20),
            journal=dict(type="path"),
            restore=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    docroot = os.path.abspath(params["docroot"])
    try:
        require_site(docroot)
        if params["restore"]:
            result = restore_journal(docroot, params["restore"], module.check_mode)
        else:
            policy = Policy.build(
                docroot,
                owner=params["owner"],
                group=params["group"],
                file_mode=params["file_mode"],
                dir_mode=params["dir_mode"],
                secret_mode=params["secret_mode"],
                secrets=params["secrets"],
                writable=params["writable"],
                exclude=params["exclude"],
                preserve_exec=params["preserve_exec"],
            )
            for warning in policy.warnings:
                module.warn(warning)
            result = fix_tree(docroot, policy, module.check_mode, params["sample_size"], params["journal"])
    except (NotABitrixSite, PolicyError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"cannot read {params['restore'] or docroot}: {exc}")
    if result["error_count"]:
        module.fail_json(
            msg=f"{result['error_count']} entries could not be changed "
            f"(first: {result['errors'][0]['path']}: {result['errors'][0]['error']})",
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
