"""Runs on the test host: fingerprint of every file the cleanup could touch (path, size, mtime,
sha256, owner, mode) as JSON, to the file argv[1] or to stdout for "-". Proves check mode and refused
runs change nothing and restored files come back exactly; the verifier reads the state in one call."""
import hashlib
import json
import os
import sys

ROOTS = ["/home/bitrix/www", "/var/log/php", "/var/log/nginx", "/var/lib/bxops/quarantine"]
out = {}
for root in ROOTS:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            out[path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "uid": st.st_uid, "gid": st.st_gid,
                         "mode": "%04o" % (st.st_mode & 0o7777), "sha256": digest}
if sys.argv[1] == "-":
    json.dump(out, sys.stdout, sort_keys=True)
else:
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(out, handle, sort_keys=True)
