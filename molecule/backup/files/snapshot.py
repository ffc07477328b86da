#!/usr/bin/env python3
"""Test helper: record a site's state (every file's sha256, owner, mode, mtime; every table's CHECKSUM).

Usage: snapshot.py DOCROOT DATABASE OUT.json [EXCLUDED_REL ...]
Content of excluded (disposable) folders is left out and their own mtime is not recorded,
as the backup role leaves them out. Runs as root on the test host (mysql over the unix socket).
"""
import hashlib
import json
import os
import stat
import subprocess
import sys


def main() -> None:
    docroot, database, out = sys.argv[1:4]
    excluded = {p.strip("/") for p in sys.argv[4:]}
    entries = {}
    for root, dirs, files in os.walk(docroot):
        rel_root = os.path.relpath(root, docroot)
        rel_root = "" if rel_root == "." else rel_root
        for name in list(dirs) + files:
            rel = os.path.join(rel_root, name) if rel_root else name
            path = os.path.join(root, name)
            st = os.lstat(path)
            item = {"uid": st.st_uid, "gid": st.st_gid, "mode": f"{stat.S_IMODE(st.st_mode):04o}"}
            if stat.S_ISLNK(st.st_mode):
                item.update(type="link", target=os.readlink(path))
                del item["mode"]
            elif stat.S_ISDIR(st.st_mode):
                item["type"] = "dir"
                if rel not in excluded:
                    item["mtime_ns"] = st.st_mtime_ns
            else:
                with open(path, "rb") as handle:
                    item.update(type="file", mtime_ns=st.st_mtime_ns,
                                sha256=hashlib.sha256(handle.read()).hexdigest())
            entries[rel] = item
        dirs[:] = [d for d in dirs if (os.path.join(rel_root, d) if rel_root else d) not in excluded
                   and not os.path.islink(os.path.join(root, d))]
    tables = subprocess.run(
        ["mysql", "-N", "-B", "-e", "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'", database],
        check=True, capture_output=True, text=True).stdout.split("\n")
    names = sorted(line.split("\t")[0] for line in tables if line.strip())
    checksums = {}
    if names:
        rows = subprocess.run(
            ["mysql", "-N", "-B", "-e", "CHECKSUM TABLE " + ", ".join(f"`{n}`" for n in names), database],
            check=True, capture_output=True, text=True).stdout.split("\n")
        for row in rows:
            if row.strip():
                table, value = row.split("\t")
                checksums[table.split(".", 1)[1]] = value
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"entries": entries, "tables": checksums}, handle, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
