# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one file layer for work under a docroot (or any other folder the site user can write to).

Everything under a docroot belongs to the site user, and through the admin panel to any Bitrix
administrator: a folder can be swapped for a symlink at any moment. Modules run as root, so
every operation here starts from a descriptor of a trusted folder (an :class:`Anchor`) and goes
down component by component with ``O_NOFOLLOW``: a symlink anywhere on the way is refused with
:class:`UnsafePath`, never followed, so nothing outside the anchor is read, written, moved,
chmod-ed or deleted. Files are opened without following symlinks and checked against the
``lstat`` the caller decided on (same device and inode, still a regular file).

Paths given to an :class:`Anchor` are relative (``"upload/iblock/a.jpg"``), as ``str``; names that
are not UTF-8 arrive and leave as ``str`` with surrogate escapes (``os.fsencode`` gives the bytes
back), so any byte but ``/`` and NUL is a valid name. Values read from the site (options, DB rows)
go through :func:`clean_rel` before they become a path.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC
OPEN_READ = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0)
_CONTROL = {chr(code) for code in range(0x20)} | {"\x7f"}


# The argument specs of the options naming the site (documented once in the bxops.bitrix.bitrix_site doc
# fragment, as DB_OPTION is in bxops.bitrix.bitrix_db): every module working on a site takes `docroot`, those
# walking the uploads take `upload_dir` (a site value, checked with clean_rel / resolve_upload_dir).
DOCROOT_OPTION: dict[str, Any] = dict(type="path", required=True)
UPLOAD_DIR_OPTION: dict[str, Any] = dict(type="str", default="")


class UnsafePath(Exception):
    """A path that goes through a symlink, leaves its anchor, or is not what was checked.

    ``str(exc)`` is one line naming the path and the reason (never file contents).
    """


class ChangedUnderfoot(UnsafePath):
    """The entry is no longer the one that was examined (swapped between lstat and open)."""


def describe(rel: str) -> str:
    """A path as it can be shown on one line: control characters and undecodable bytes as \\xNN."""
    out = []
    for ch in rel:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogate escape)
            out.append("\\x%02x" % (code - 0xDC00))
        elif code < 0x20 or code == 0x7F:
            out.append("\\x%02x" % code)
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def clean_rel(value: str | bytes | None, what: str, default: str | None = None) -> str:
    """A site-provided relative path, validated: no NUL or control characters, no ``.``/``..`` or
    empty components; surrounding ``/`` are dropped (Bitrix stores ``/upload/`` and ``upload`` alike).

    ``default`` is returned for an empty value when given. Raises UnsafePath naming ``what``.
    """
    text = os.fsdecode(value) if isinstance(value, bytes) else (value or "")
    stripped = text.strip("/")
    if not stripped:
        if default is not None:
            return default
        raise UnsafePath(f"{what}: empty path")
    if any(ch in _CONTROL for ch in stripped):
        raise UnsafePath(f"{what}={describe(text)!s}: holds control characters")
    parts = stripped.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePath(f"{what}={describe(text)!s}: only plain relative paths inside the docroot are allowed")
    return "/".join(parts)


def _split(rel: str) -> list[str]:
    """Components of a path the code itself built (already clean); '' is the anchor itself."""
    if rel in ("", "."):
        return []
    if rel.startswith("/") or "\0" in rel:
        raise UnsafePath(f"{describe(rel)}: not a relative path")
    parts = [part for part in rel.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"{describe(rel)}: '..' is not allowed")
    return parts


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


@dataclass
class Entry:
    """One entry met by :meth:`Anchor.walk`: its path relative to the anchor, and its lstat.

    ``dir_fd`` is a descriptor of the folder holding it, valid only until the walk moves on.
    """

    rel: str
    name: str
    st: os.stat_result
    dir_fd: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.st.st_mode)


def chmod_at(parent: int, name: str, mode: int) -> None:
    """chmod ``name`` in the folder open as ``parent`` without following a symlink there.

    Python asks the C library for ``fchmodat(AT_SYMLINK_NOFOLLOW)``; only glibc 2.32 and later (Debian 12)
    carry it out, older ones (Debian 11's 2.31) answer ENOTSUP for every entry and Python raises ValueError
    ("cannot use dir_fd and follow_symlinks together"). Then the entry is opened with ``O_PATH|O_NOFOLLOW``
    (a symlink is opened as itself, never followed) and changed through ``/proc/self/fd``, which is what
    newer glibc does inside ``fchmodat``. A symlink raises ValueError in both cases: there is nothing to
    chmod (Linux has no symlink modes) and the caller read a different entry.
    """
    try:
        os.chmod(name, mode, dir_fd=parent, follow_symlinks=False)
        return
    except (ValueError, NotImplementedError):
        o_path = getattr(os, "O_PATH", 0)
        if not o_path:
            raise
    fd = os.open(name, o_path | _NOFOLLOW | _CLOEXEC, dir_fd=parent)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise ValueError(f"{describe(name)} is a symlink: not changed")
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class Anchor:
    """A trusted folder opened once; every path below it is reached without following symlinks.

    The anchor's own path is configuration (the engineer's ``bitrix_docroot``, the quarantine
    folder), resolved once; nothing below it is ever resolved.
    """

    def __init__(self, path: str | bytes) -> None:
        self.path = os.path.realpath(os.fsdecode(path))
        try:
            self.fd = os.open(self.path, OPEN_DIR)
        except OSError as exc:
            raise UnsafePath(f"{self.path}: cannot open the folder ({exc.strerror})") from exc

    # --- life cycle --------------------------------------------------------------------------
    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Anchor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - a safety net for forgotten closes
        with contextlib.suppress(OSError, AttributeError):
            self.close()

    def abspath(self, rel: str) -> str:
        """For messages and for tools that need a path (never used to open anything here)."""
        return os.path.join(self.path, rel) if rel not in ("", ".") else self.path

    # --- reaching entries --------------------------------------------------------------------
    def _descend(self, parts: list[str], rel: str) -> int:
        fd = os.dup(self.fd)
        done: list[str] = []
        try:
            for part in parts:
                try:
                    next_fd = os.open(part, OPEN_DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        here = _join("/".join(done), part)
                        kind = self._kind_of(fd, part)
                        raise UnsafePath(
                            f"refusing {describe(self.abspath(rel))}: {describe(self.abspath(here))} is {kind}"
                        ) from exc
                    raise
                os.close(fd)
                fd = next_fd
                done.append(part)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _kind_of(dir_fd: int, name: str) -> str:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return "not a folder"
        if stat.S_ISLNK(st.st_mode):
            try:
                return f"a symlink (-> {describe(os.readlink(name, dir_fd=dir_fd))})"
            except OSError:
                return "a symlink"
        return "not a folder"

    def open_dir(self, rel: str) -> int:
        """A descriptor of folder ``rel`` (the caller closes it); UnsafePath if any component is a
        symlink or not a folder, FileNotFoundError if missing."""
        return self._descend(_split(rel), rel)

    def open_parent(self, rel: str) -> tuple[int, str]:
        """A descriptor of ``rel``'s parent folder and ``rel``'s last name."""
        parts = _split(rel)
        if not parts:
            raise UnsafePath(f"{self.path}: the anchor itself has no parent here")
        return self._descend(parts[:-1], rel), parts[-1]

    def lstat(self, rel: str) -> os.stat_result:
        parts = _split(rel)
        if not parts:
            return os.fstat(self.fd)
        fd = self._descend(parts[:-1], rel)
        try:
            return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)

    def exists(self, rel: str) -> bool:
        """True when ``rel`` exists, reached without symlinks (a symlink itself exists)."""
        try:
            self.lstat(rel)
        except (FileNotFoundError, NotADirectoryError, UnsafePath):
            return False
        return True

    def is_dir(self, rel: str) -> bool:
        """A real folder reached without symlinks (a symlink to a folder is not one)."""
        try:
            return stat.S_ISDIR(self.lstat(rel).st_mode)
        except (FileNotFoundError, NotADirectoryError, UnsafePath):
            return False

    def require_dir(self, rel: str, what: str) -> bool:
        """False when ``rel`` does not exist; UnsafePath (naming ``what``) when it is a symlink or
        anything but a real folder; True for a real folder."""
        try:
            st = self.lstat(rel)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if stat.S_ISLNK(st.st_mode):
            with self.parent_of(rel) as (parent, name):
                kind = self._kind_of(parent, name)
            raise UnsafePath(f"refusing {what} {describe(self.abspath(rel))}: it is {kind}")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"refusing {what} {describe(self.abspath(rel))}: it is not a folder")
        return True

    # --- reading -----------------------------------------------------------------------------
    def open_file(self, rel: str, flags: int = os.O_RDONLY, mode: int = 0o600,
                  expect: os.stat_result | None = None) -> int:
        """A descriptor of file ``rel`` opened without following symlinks (the caller closes it).

        With ``expect`` (the lstat the caller examined), the opened file must be that same regular
        file: else ChangedUnderfoot. Opening for reading never blocks on a FIFO.
        """
        parent, name = self.open_parent(rel)
        try:
            extra = _NOFOLLOW | _CLOEXEC
            if flags & (os.O_WRONLY | os.O_RDWR) == 0:
                extra |= getattr(os, "O_NONBLOCK", 0)
            try:
                fd = os.open(name, flags | extra, mode, dir_fd=parent)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UnsafePath(f"refusing {describe(self.abspath(rel))}: it is a symlink") from exc
                raise
        finally:
            os.close(parent)
        try:
            st = os.fstat(fd)
            if expect is not None and not (same_file(st, expect) and stat.S_ISREG(st.st_mode)):
                raise ChangedUnderfoot(f"{describe(self.abspath(rel))} changed while being read; left alone")
            if flags & (os.O_WRONLY | os.O_RDWR) == 0 and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
                raise UnsafePath(f"refusing {describe(self.abspath(rel))}: not a regular file")
            if extra & getattr(os, "O_NONBLOCK", 0):
                os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read_bytes(self, rel: str, limit: int | None = None) -> bytes:
        """The content of regular file ``rel``; UnsafePath past ``limit`` bytes."""
        fd = self.open_file(rel)
        try:
            size = os.fstat(fd).st_size
            if limit is not None and size > limit:
                raise UnsafePath(f"refusing {describe(self.abspath(rel))}: {size} bytes, more than {limit}")
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                if limit is not None and sum(map(len, chunks)) > limit:
                    raise UnsafePath(f"refusing {describe(self.abspath(rel))}: more than {limit} bytes")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def read_text(self, rel: str, limit: int | None = None) -> str:
        return self.read_bytes(rel, limit).decode("utf-8", errors="replace")

    # --- walking -----------------------------------------------------------------------------
    def scandir(self, rel: str = "") -> list[Entry]:
        """The entries of folder ``rel`` with their lstat, sorted by name; descriptors closed."""
        fd = self.open_dir(rel)
        try:
            return list(self._entries(fd, rel))
        finally:
            os.close(fd)

    @staticmethod
    def _entries(fd: int, rel: str) -> Iterator[Entry]:
        with os.scandir(fd) as iterator:
            items = sorted(iterator, key=lambda item: item.name)
        for item in items:
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield Entry(_join(rel, item.name), item.name, st, fd)

    def walk(self, rel: str = "", prune: Callable[[Entry], bool] | None = None,
             on_error: Callable[[str, OSError], None] | None = None, topdown: bool = True) -> Iterator[Entry]:
        """Every entry below folder ``rel`` (not ``rel`` itself), depth first, names sorted.

        Symlinks are yielded, never followed; a folder for which ``prune(entry)`` is true is yielded
        but not entered. ``topdown=False`` yields a folder after its contents (for removal).
        A folder that vanished is skipped; other errors go to ``on_error`` (else raise).
        """
        try:
            fd = self.open_dir(rel)
        except FileNotFoundError:
            return
        try:
            yield from self._walk_fd(fd, rel, prune, on_error, topdown)
        finally:
            os.close(fd)

    def _walk_fd(self, fd: int, rel: str, prune: Callable[[Entry], bool] | None,
                 on_error: Callable[[str, OSError], None] | None, topdown: bool) -> Iterator[Entry]:
        try:
            entries = list(self._entries(fd, rel))
        except OSError as exc:
            if on_error is None:
                raise
            on_error(rel, exc)
            return
        for entry in entries:
            descend = entry.is_dir and not (prune is not None and prune(entry))
            if topdown:
                yield entry
            if descend:
                try:
                    sub = os.open(entry.name, OPEN_DIR, dir_fd=fd)
                except FileNotFoundError:
                    sub = -1
                except OSError as exc:  # swapped for a symlink since the scan (ELOOP) or unreadable
                    sub = -1
                    if on_error is None:
                        raise UnsafePath(f"refusing {describe(self.abspath(entry.rel))}: {exc.strerror}") from exc
                    on_error(entry.rel, exc)
                if sub >= 0:
                    try:
                        if same_file(os.fstat(sub), entry.st):
                            yield from self._walk_fd(sub, entry.rel, prune, on_error, topdown)
                        elif on_error is not None:
                            on_error(entry.rel, OSError(errno.ESTALE, "changed during the walk"))
                    finally:
                        os.close(sub)
            if not topdown:
                yield entry

    # --- changing ----------------------------------------------------------------------------
    def makedirs(self, rel: str, mode: int = 0o755, uid: int = -1, gid: int = -1) -> list[str]:
        """Create the missing folders of ``rel`` (owned uid:gid, ``mode``); existing components must
        be real folders. Returns the folders created (relative paths)."""
        created: list[str] = []
        fd = os.dup(self.fd)
        done = ""
        try:
            for part in _split(rel):
                here = _join(done, part)
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                    created.append(here)
                    new = True
                except FileExistsError:
                    new = False
                try:
                    next_fd = os.open(part, OPEN_DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafePath(
                            f"refusing {describe(self.abspath(rel))}: {describe(self.abspath(here))} is "
                            f"{self._kind_of(fd, part)}"
                        ) from exc
                    raise
                os.close(fd)
                fd = next_fd
                if new:
                    os.fchmod(fd, mode)
                    if uid >= 0 or gid >= 0:
                        os.fchown(fd, uid, gid)
                done = here
        finally:
            os.close(fd)
        return created

    @contextlib.contextmanager
    def parent_of(self, rel: str) -> Iterator[tuple[int, str]]:
        """(descriptor of ``rel``'s anchored parent, ``rel``'s last name); the descriptor is closed on leaving."""
        parent, name = self.open_parent(rel)
        try:
            yield parent, name
        finally:
            os.close(parent)

    def unlink(self, rel: str) -> None:
        with self.parent_of(rel) as (parent, name):
            os.unlink(name, dir_fd=parent)

    def rmdir(self, rel: str) -> None:
        with self.parent_of(rel) as (parent, name):
            os.rmdir(name, dir_fd=parent)

    def remove_tree(self, rel: str, keep: Callable[[Entry], bool] | None = None) -> tuple[int, int]:
        """Delete folder ``rel``'s contents (bottom up, never following a symlink: a symlink is
        removed as a link) and then ``rel`` itself unless something was kept. ``keep(entry)`` spares
        an entry (a kept folder is not entered). Returns (entries removed, bytes freed)."""
        removed = freed = 0
        kept_below: set[str] = set()
        for entry in self.walk(rel, prune=keep, topdown=False):
            if keep is not None and keep(entry):
                kept_below.update(_ancestors(entry.rel))
                continue
            try:
                if entry.is_dir:
                    if entry.rel in kept_below:
                        continue
                    os.rmdir(entry.name, dir_fd=entry.dir_fd)
                else:
                    os.unlink(entry.name, dir_fd=entry.dir_fd)
                    freed += entry.st.st_size if entry.is_file else 0
                removed += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    kept_below.update(_ancestors(entry.rel))
                    continue
                raise
        if rel and rel not in kept_below:
            try:
                self.rmdir(rel)
                removed += 1
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                    raise
        return removed, freed

    def chmod(self, rel: str, mode: int) -> None:
        if not _split(rel):
            os.fchmod(self.fd, mode)
            return
        with self.parent_of(rel) as (parent, name):
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(f"refusing to chmod {describe(self.abspath(rel))}: it is a symlink")
            chmod_at(parent, name, mode)

    def chown(self, rel: str, uid: int, gid: int) -> None:
        if not _split(rel):
            os.fchown(self.fd, uid, gid)
            return
        with self.parent_of(rel) as (parent, name):
            os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)

    def utime(self, rel: str, ns: tuple[int, int]) -> None:
        with self.parent_of(rel) as (parent, name):
            os.utime(name, ns=ns, dir_fd=parent, follow_symlinks=False)

    def rename(self, rel: str, target: Anchor, target_rel: str) -> None:
        """Move ``rel`` to ``target_rel`` under ``target`` (the same anchor or another) without
        following symlinks on either side; OSError(EXDEV) across filesystems is the caller's."""
        src_parent, src_name = self.open_parent(rel)
        try:
            dst_parent, dst_name = target.open_parent(target_rel)
            try:
                os.rename(src_name, dst_name, src_dir_fd=src_parent, dst_dir_fd=dst_parent)
            finally:
                os.close(dst_parent)
        finally:
            os.close(src_parent)

    def write_atomic(self, rel: str, data: bytes, mode: int = 0o600, uid: int = -1, gid: int = -1) -> None:
        """Replace file ``rel`` with ``data`` (a temporary file in the same folder, fsync, rename)."""
        parent, name = self.open_parent(rel)
        tmp = f".{name}.bxops-tmp-{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode, dir_fd=parent)
            try:
                os.fchmod(fd, mode)
                if uid >= 0 or gid >= 0:
                    os.fchown(fd, uid, gid)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise
        finally:
            os.close(parent)


def _ancestors(rel: str) -> Iterator[str]:
    parts = rel.split("/")
    for end in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:end])


def copy_sparse(src_fd: int, dst_fd: int) -> int:
    """Copy an open regular file's data keeping its holes (SEEK_DATA/SEEK_HOLE); returns bytes copied.

    The destination gets the source's length even when it ends in a hole.
    """
    size = os.fstat(src_fd).st_size
    copied = 0
    offset = 0
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    while offset < size:
        if seek_data is not None and seek_hole is not None:
            try:
                start = os.lseek(src_fd, offset, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole up to the end
                    break
                raise
            end = os.lseek(src_fd, start, seek_hole)
        else:
            start, end = offset, size
        position = start
        while position < end:
            chunk = os.pread(src_fd, min(1 << 20, end - position), position)
            if not chunk:
                break
            written = 0
            while written < len(chunk):
                written += os.pwrite(dst_fd, chunk[written:], position + written)
            position += len(chunk)
            copied += len(chunk)
        offset = max(end, position)
    os.ftruncate(dst_fd, size)
    return copied
