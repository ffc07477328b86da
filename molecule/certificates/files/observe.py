#!/usr/bin/python3
"""Record what the test host looks like now, in one process (one exec instead of six module runs).

Usage: observe.py NAME [DOMAIN ...] [--sentinel DIR] [--keep]   (the message of the role run just
before comes on stdin). Writes /var/lib/bxops-test/NAME.json:
  msg            the message (stdin, stripped)
  workers        nginx's worker PIDs (they change on every reload), sorted as text like `sort -n`
  served         {domain: serial of the leaf nginx sends for that SNI on 127.0.0.1:443, or null}
  served_issuer  {domain: CN of that leaf's issuer, or null}
  disk           {domain: serial of /etc/nginx/ssl/<domain>/fullchain.pem's leaf, or null}
  sentinel       (with --sentinel) `find DIR -printf '%p %u:%g %m %s\\n'` lines
With --keep an existing record is left as it is (the first observation under that name stands).
Serials are integers, read by openssl from the certificates themselves (the role reads them with
community.crypto; the tests only compare records with records).
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time

RECORDS = "/var/lib/bxops-test"
SSL_DIR = "/etc/nginx/ssl"


def x509_fields(data: bytes, inform: str) -> tuple[int, str | None]:
    out = subprocess.run(
        ["openssl", "x509", "-inform", inform, "-noout", "-serial", "-issuer", "-nameopt", "RFC2253"],
        input=data, capture_output=True, check=True,
    ).stdout.decode()
    serial = int(re.search(r"^serial=([0-9A-Fa-f]+)$", out, re.M).group(1), 16)  # type: ignore[union-attr]
    cn = re.search(r"^issuer=(?:.*,)?CN=((?:[^,\\]|\\.)*)", out, re.M)
    return serial, (cn.group(1).strip() if cn else None)


def served(domain: str) -> tuple[int | None, str | None]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", 443), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=domain) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        return x509_fields(der, "DER") if der else (None, None)
    except (OSError, subprocess.CalledProcessError):
        return None, None


def on_disk(domain: str) -> int | None:
    try:
        with open(os.path.join(SSL_DIR, domain, "fullchain.pem"), "rb") as handle:
            return x509_fields(handle.read(), "PEM")[0]
    except (OSError, subprocess.CalledProcessError):
        return None


def workers() -> list[str]:
    """The master's children that serve (a reload leaves old workers 'shutting down' for a moment:
    wait for them to go, up to 20 s, so two looks at an unchanged nginx see the same list)."""
    with open("/run/nginx.pid", encoding="ascii") as handle:
        master = handle.read().strip()
    deadline = time.monotonic() + 20
    while True:
        children = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
        titles = {}
        for pid in children:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    titles[pid] = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                pass
        if not any("shutting down" in t for t in titles.values()) or time.monotonic() > deadline:
            return sorted((p for p, t in titles.items() if "shutting down" not in t), key=int)
        time.sleep(0.2)


def sentinel(folder: str) -> list[str]:
    return subprocess.run(
        ["find", folder, "-printf", "%p %u:%g %m %s\\n"], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    argv = [a for a in argv if a != "--keep"]
    folder = None
    if "--sentinel" in argv:
        at = argv.index("--sentinel")
        folder = argv[at + 1]
        del argv[at:at + 2]
    name, domains = argv[0], argv[1:]
    path = os.path.join(RECORDS, name + ".json")
    if keep and os.path.exists(path):
        print("kept")
        return 0
    looks = {d: served(d) for d in domains}
    record: dict[str, object] = {
        "msg": sys.stdin.read().strip(),
        "workers": workers(),
        "served": {d: looks[d][0] for d in domains},
        "served_issuer": {d: looks[d][1] for d in domains},
        "disk": {d: on_disk(d) for d in domains},
    }
    if folder is not None:
        record["sentinel"] = sentinel(folder)
    os.makedirs(RECORDS, mode=0o755, exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=4, sort_keys=True)
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)
    print("written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
