"""SSH host keys against a real sshd on 127.0.0.1 with throwaway host keys: a client's server is trusted
only once `runner.py trust-host` recorded its key in inventories/<client>/known_hosts after the
fingerprint was compared; runs refuse an unknown or a changed key (a man in the middle) and say how
to go on."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import RUNNER, Workspace
from .processes import descendants

SSHD = Path("/usr/sbin/sshd")
pytestmark = pytest.mark.skipif(
    not SSHD.exists() or shutil.which("ssh-keyscan") is None,
    reason="needs openssh-server and openssh-client (scripts/bootstrap.sh installs them)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def fingerprint(public_key: Path) -> str:
    """As the server's operator reads it on its console (ssh-keygen -lf)."""
    shown = subprocess.run(["ssh-keygen", "-lf", str(public_key)], capture_output=True, text=True, check=True)
    return shown.stdout.split()[1]


@dataclass
class Sshd:
    folder: Path
    port: int
    client_key: Path
    process: subprocess.Popen[bytes] | None = None

    def host_key(self, generation: int) -> Path:
        return self.folder / f"host_ed25519_{generation}"

    def start(self, generation: int) -> None:
        self.stop()
        key = self.host_key(generation)
        if not key.exists():
            keygen(key)
        config = self.folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {key}",
                    f"PidFile {self.folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "Subsystem sftp /usr/lib/openssh/sftp-server",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert self.process.poll() is None, "sshd did not start"
            time.sleep(0.1)
        raise AssertionError("sshd did not listen")

    def stop(self) -> None:
        """The server and the sessions it serves (a persisted ssh master connection among them)."""
        if self.process is not None and self.process.poll() is None:
            sessions = descendants(self.process.pid)
            self.process.terminate()
            self.process.wait(timeout=10)
            for pid in sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        self.process = None


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    folder = tmp_path / "sshd"
    folder.mkdir()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    client_key = folder / "client_ed25519"
    keygen(client_key)
    (folder / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    server = Sshd(folder, free_port(), client_key)
    server.start(1)
    yield server
    server.stop()


def ssh_client(ws: Workspace, server: Sshd) -> None:
    """Client t1's staging host `site1` is the sshd above, reached over real SSH."""
    host = {
        "ansible_host": "127.0.0.1",
        "ansible_port": server.port,
        "ansible_user": getpass.getuser(),
        "ansible_ssh_private_key_file": str(server.client_key),
        "ansible_python_interpreter": sys.executable,
    }
    inventory = {"all": {"children": {"staging": {"hosts": {"site1": host}}, "production": {"hosts": {}}}}}
    (ws.client_dir / "hosts.yml").write_text(yaml.safe_dump(inventory))


def run_marker(ws: Workspace, marker: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """marker.yml on the SSH host: the marker exists only if Ansible reached the host."""
    control = str(ws.root / "cp")  # ssh's persisted connections of this test only
    return ws.cli(
        "run", "t1", "staging", "marker", "-e", f"marker_path={marker}", check=check,
        ANSIBLE_SSH_CONTROL_PATH_DIR=control,
    )


def test_trust_host_records_only_a_compared_key(sqlite_workspace: Workspace, sshd: Sshd) -> None:
    ws = sqlite_workspace
    ssh_client(ws, sshd)
    known_hosts = ws.client_dir / "known_hosts"
    expected = fingerprint(Path(f"{sshd.host_key(1)}.pub"))

    shown = ws.cli("trust-host", "t1", "site1", check=False)  # not a terminal, no --yes: nothing recorded
    assert shown.returncode == 1
    assert f"site1 ([127.0.0.1]:{sshd.port}) offers ssh-ed25519 {expected}" in shown.stdout
    assert "--yes --fingerprint" in shown.stderr and not known_hosts.exists()

    unchecked = ws.cli("trust-host", "t1", "site1", "--yes", check=False)
    assert unchecked.returncode == 1 and "--yes needs --fingerprint" in unchecked.stderr
    assert not known_hosts.exists()

    wrong = ws.cli("trust-host", "t1", "site1", "--yes", "--fingerprint", "SHA256:" + "A" * 43, check=False)
    assert wrong.returncode == 1 and "offers no key with fingerprint" in wrong.stderr
    assert not known_hosts.exists()

    ws.cli("trust-host", "t1", "site1", "--yes", "--fingerprint", expected)
    blob = Path(f"{sshd.host_key(1)}.pub").read_text().split()[1]
    assert known_hosts.read_text() == f"[127.0.0.1]:{sshd.port} ssh-ed25519 {blob}\n"
    again = ws.cli("trust-host", "t1", "site1", "--yes", "--fingerprint", expected)
    assert "already trusted" in again.stdout
    assert known_hosts.read_text().count("ssh-ed25519") == 1


def test_changed_key_is_refused_by_trust_host(sqlite_workspace: Workspace, sshd: Sshd) -> None:
    ws = sqlite_workspace
    ssh_client(ws, sshd)
    known_hosts = ws.client_dir / "known_hosts"
    ws.cli("trust-host", "t1", "site1", "--yes", "--fingerprint", fingerprint(Path(f"{sshd.host_key(1)}.pub")))
    before = known_hosts.read_text()
    sshd.start(2)  # the same address now answers with another key
    new = fingerprint(Path(f"{sshd.host_key(2)}.pub"))
    changed = ws.cli("trust-host", "t1", "site1", "--yes", "--fingerprint", new, check=False)
    assert changed.returncode == 1
    line = changed.stderr.strip()
    assert line.startswith(f"bxops: error: host key of site1 ([127.0.0.1]:{sshd.port}) has CHANGED:")
    assert new in line and fingerprint(Path(f"{sshd.host_key(1)}.pub")) in line
    assert known_hosts.read_text() == before


def test_runs_refuse_unknown_and_changed_host_keys(sqlite_workspace: Workspace, sshd: Sshd) -> None:
    ws = sqlite_workspace
    ssh_client(ws, sshd)
    markers = [ws.root / f"marker{n}" for n in range(3)]

    unknown = run_marker(ws, markers[0], check=False)
    assert unknown.returncode != 0
    assert not markers[0].exists()
    assert "site1: Leave a marker unreachable:" in unknown.stdout
    assert "Host key verification failed" in unknown.stdout
    assert f"{RUNNER} trust-host t1 site1" in unknown.stdout  # what to do next

    ws.cli("trust-host", "t1", "site1", "--yes", "--fingerprint", fingerprint(Path(f"{sshd.host_key(1)}.pub")))
    trusted = run_marker(ws, markers[1])
    assert "succeeded" in trusted.stdout
    assert markers[1].read_text() == "ran\n"

    sshd.start(2)  # a man in the middle: same address, another key
    mitm = run_marker(ws, markers[2], check=False)
    assert mitm.returncode != 0 and not markers[2].exists()
    assert "Host key verification failed" in mitm.stdout
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in mitm.stdout
    assert "trust-host" not in mitm.stdout  # a changed key is never offered for trust from a run
    statuses = [entry["status"] for entry in ws.history()]
    assert statuses == ["failed", "succeeded", "failed"]
