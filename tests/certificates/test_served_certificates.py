"""common's served_certificates (the collection's one reader of served certificates, community.crypto's
get_certificate) against a real TLS server started here, with two certificates made here: what it
settles per domain is compared with the serials and dates the certificates were made with."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
# serial and end date given to the certificate builder
CERTS = {"shop.example.test": (7982, "20300102030405Z"),
         "www.shop.example.test": (42, "20291231235959Z")}


def _make_cert(folder: Path, name: str, serial: int, not_after: str) -> tuple[Path, Path]:
    """A self-signed certificate for name with exactly this serial and end date (python cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(serial).not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime.strptime(not_after, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_path, crt_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt_path, key_path


RENEWED = (9999, "20310101000000Z")  # what shop.example.test serves from its third handshake on (a reload)
STATE = {"shop_hits": 0}


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[int]:
    """Answers each SNI name with its own certificate (the first one for any other name); shop.example.test
    switches to the RENEWED certificate from its third handshake on."""
    STATE["shop_hits"] = 0
    renewed = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    renewed.load_cert_chain(*_make_cert(tmp_path, "renewed", RENEWED[0], RENEWED[1]))
    contexts = {}
    for name, (serial, not_after) in CERTS.items():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*_make_cert(tmp_path, name, serial, not_after))
        contexts[name] = context
    default = contexts["shop.example.test"]

    def pick(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
        if name == "shop.example.test":
            STATE["shop_hits"] += 1
            if STATE["shop_hits"] >= 3:
                sock.context = renewed
                return
        sock.context = contexts.get(name or "", default)

    default.sni_callback = pick
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with default.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def _run(tmp_path: Path, extra: dict) -> list[dict]:
    playbook = tmp_path / "read.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: bxops.bitrix.common\n"
        "        tasks_from: served_certificates\n"
        "    - ansible.builtin.copy:\n        content: \"{{ __common_served_certificates | to_json }}\"\n"
        f"        dest: {tmp_path}/out.json\n        mode: '0600'\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"))
    extra = dict(extra, ansible_python_interpreter=sys.executable)  # get_certificate needs cryptography
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook),
                           "-e", json.dumps(extra)], cwd=PROJECT, env=env, text=True, capture_output=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "out.json").read_text())


def test_each_domain_gets_its_served_serial_and_end_date(tls_server: int, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    served = _run(tmp_path, {"common_served_domains": list(CERTS), "common_served_port": tls_server})
    assert [{k: e[k] for k in ("domain", "served", "serial", "not_after", "issuer_cn", "error")} for e in served] == [
        {"domain": name, "served": True, "serial": serial, "not_after": not_after, "issuer_cn": name, "error": None}
        for name, (serial, not_after) in CERTS.items()]
    nothing = _run(tmp_path, {"common_served_domains": ["shop.example.test"], "common_served_port": closed})
    assert nothing[0]["served"] is False and nothing[0]["serial"] is None
    assert "refused" in nothing[0]["error"].lower()


def test_an_expected_serial_is_waited_for(tls_server: int, tmp_path: Path) -> None:
    served = _run(tmp_path, {"common_served_domains": ["shop.example.test"], "common_served_port": tls_server,
                             "common_served_expect": {"shop.example.test": RENEWED[0]}, "common_served_retries": 5})
    assert (served[0]["serial"], served[0]["not_after"]) == RENEWED
    assert STATE["shop_hits"] == 3  # asked until the third answer carried the serial, then no more
