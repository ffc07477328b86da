"""Runs on the test host as root: a fingerprint of the trees a hostile site must never reach.

    sentinel.py record OUT --tree DIR... --meta PATH...   write the fingerprint to OUT
    sentinel.py now BEFORE                                 print the same fingerprint of today's state

Every entry under each --tree (never following a symlink: lstat, os.walk without followlinks) gets its
type, owner, group and mode, and for files size and sha256, for symlinks the target. --meta paths get
owner, group, mode and type only (/etc/passwd, /etc/shadow: the system may rewrite their content).
The verifier compares `now` with the record taken at plant time; any difference is damage done by a role.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from typing import Any


def describe(path: str, content: bool) -> dict[str, Any]:
    st = os.lstat(path)
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode) else \
        "file" if stat.S_ISREG(st.st_mode) else "other"
    entry: dict[str, Any] = {"type": kind, "uid": st.st_uid, "gid": st.st_gid,
                             "mode": f"{stat.S_IMODE(st.st_mode):04o}"}
    if content and kind == "file":
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        entry.update(size=st.st_size, sha256=digest.hexdigest())
    if content and kind == "link":
        entry["target"] = os.readlink(path)
    return entry


def fingerprint(trees: list[str], meta: list[str]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for root in trees:
        if not os.path.lexists(root):
            entries[root] = {"type": "missing"}
            continue
        entries[root] = describe(root, True)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                entries[path] = describe(path, True)
    for path in meta:
        entries[path] = describe(path, False) if os.path.lexists(path) else {"type": "missing"}
    return {"trees": trees, "meta": meta, "entries": entries}


def main(argv: list[str]) -> None:
    if argv[:1] == ["record"]:
        out, trees, meta, current = argv[1], [], [], None
        for arg in argv[2:]:
            if arg in ("--tree", "--meta"):
                current = trees if arg == "--tree" else meta
            elif current is not None:
                current.append(arg)
        data = fingerprint(trees, meta)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True, indent=1)
    elif argv[:1] == ["now"]:
        with open(argv[1], encoding="utf-8") as handle:
            before = json.load(handle)
        json.dump(fingerprint(before["trees"], before["meta"]), sys.stdout, sort_keys=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
