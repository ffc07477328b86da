"""SSH host keys of a client's servers: `inventories/<client>/known_hosts`, recorded at onboarding by
`runner.py trust-host` after the engineer compared the fingerprint, and enforced on every run
(StrictHostKeyChecking=yes against that file only), so that a man in the middle never receives what the
playbooks send (vault-decrypted database passwords among them).

Hosts reached through podman, docker or a local connection have no host key and need no entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bxops.errors import BxopsError

KNOWN_HOSTS_NAME = "known_hosts"
#: ansible.cfg's own default ssh_args, kept: ANSIBLE_SSH_ARGS replaces them.
DEFAULT_SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s"
#: Connections that do not go over SSH.
NO_SSH_CONNECTIONS = frozenset(
    {"local", "podman", "docker", "containers.podman.podman", "community.docker.docker", "ansible.builtin.local"}
)
#: Key types asked for, strongest first.
KEY_TYPES = "ed25519,ecdsa,rsa"
SCAN_TIMEOUT_SECONDS = 10


def known_hosts_path(client_folder: Path) -> Path:
    return client_folder / KNOWN_HOSTS_NAME


def ssh_args(known_hosts: Path) -> str:
    """ssh options for every run of the client: its own known_hosts only, unknown or changed keys refused,
    nothing added to the file by ssh itself."""
    return (
        f"{DEFAULT_SSH_ARGS} -o UserKnownHostsFile={shlex.quote(str(known_hosts))} "
        "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o UpdateHostKeys=no"
    )


def ssh_environment(client_folder: Path) -> dict[str, str]:
    """Ansible's settings that make a run check host keys against the client's known_hosts."""
    return {
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": ssh_args(known_hosts_path(client_folder)),
    }


@dataclass(frozen=True)
class HostKey:
    name: str  # as known_hosts names the host: `address` or `[address]:port`
    key_type: str  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
    blob: str  # base64

    @property
    def fingerprint(self) -> str:
        """SHA256:… as `ssh-keygen -l` prints it."""
        try:
            raw = base64.b64decode(self.blob, validate=True)
        except (binascii.Error, ValueError):
            raise BxopsError(f"host key of {self.name} is not valid base64") from None
        return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")

    def line(self) -> str:
        return f"{self.name} {self.key_type} {self.blob}"


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


@dataclass(frozen=True)
class SshTarget:
    host: str  # inventory name
    address: str
    port: int

    @property
    def name(self) -> str:
        return known_hosts_name(self.address, self.port)


def _walk_inventory(node: Any, inherited: dict[str, Any], found: dict[str, dict[str, Any]]) -> None:
    if not isinstance(node, dict):
        return
    for _group, body in node.items():
        if not isinstance(body, dict):
            continue
        group_vars = {**inherited, **(body.get("vars") or {})}
        for host, host_vars in (body.get("hosts") or {}).items():
            merged = {**group_vars, **(host_vars or {})}
            found.setdefault(str(host), {}).update(merged)
        _walk_inventory(body.get("children"), group_vars, found)


def find_ssh_target(inventory: Path, host: str, address: str | None = None, port: int | None = None) -> SshTarget:
    """Where ssh connects for an inventory host: ansible_host and ansible_port from the (YAML) inventory,
    unless given. Refuses a host that is not in the inventory or is not reached over SSH."""
    hosts: dict[str, dict[str, Any]] = {}
    if inventory.suffix in (".yml", ".yaml"):
        try:
            _walk_inventory(yaml.safe_load(inventory.read_text(encoding="utf-8")), {}, hosts)
        except (OSError, yaml.YAMLError) as error:
            raise BxopsError(f"inventory {inventory}: cannot read it: {error}") from None
    if host not in hosts and address is None:
        known = ", ".join(sorted(hosts)) or "none found"
        raise BxopsError(f"host {host!r} is not in {inventory} (hosts: {known}); give --address to name it")
    host_vars = hosts.get(host, {})
    connection = str(host_vars.get("ansible_connection") or "ssh")
    if connection in NO_SSH_CONNECTIONS:
        raise BxopsError(f"host {host!r} uses connection {connection!r}: no SSH host key to record")
    inventory_port = host_vars.get("ansible_port") or host_vars.get("ansible_ssh_port") or 22
    chosen_port = port if port is not None else int(inventory_port)
    chosen_address = address or str(host_vars.get("ansible_host") or host)
    if chosen_address.startswith("-") or any(c.isspace() for c in chosen_address):
        raise BxopsError(f"host address {chosen_address!r} is not valid")
    return SshTarget(host=host, address=chosen_address, port=chosen_port)


def parse_known_hosts(text: str) -> list[HostKey]:
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if parts[0].startswith("@"):  # @cert-authority / @revoked markers: kept as they are, not parsed
            continue
        if len(parts) < 3:
            continue
        for name in parts[0].split(","):
            keys.append(HostKey(name=name, key_type=parts[1], blob=parts[2]))
    return keys


def scan(target: SshTarget) -> list[HostKey]:
    """The host keys the server offers now (ssh-keyscan), named as known_hosts names the host."""
    try:
        done = subprocess.run(
            ["ssh-keyscan", "-T", str(SCAN_TIMEOUT_SECONDS), "-p", str(target.port), "-t", KEY_TYPES, target.address],
            capture_output=True,
            text=True,
            timeout=SCAN_TIMEOUT_SECONDS * 4,
            check=False,
        )
    except FileNotFoundError:
        raise BxopsError("ssh-keyscan not found: install openssh-client") from None
    except subprocess.TimeoutExpired:
        raise BxopsError(f"ssh-keyscan {target.address}:{target.port} timed out") from None
    keys = [HostKey(target.name, key.key_type, key.blob) for key in parse_known_hosts(done.stdout)]
    if not keys:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no answer"
        raise BxopsError(f"no host key from {target.address} port {target.port}: {reason}")
    order = {kind: n for n, kind in enumerate(("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"))}
    return sorted(keys, key=lambda key: order.get(key.key_type, 99))


@dataclass(frozen=True)
class Comparison:
    new: list[HostKey]  # offered, not recorded yet (no recorded key of this type for the host)
    known: list[HostKey]  # offered and recorded
    changed: list[tuple[HostKey, HostKey]]  # (recorded, offered): same type, another key


def compare(offered: list[HostKey], recorded: list[HostKey]) -> Comparison:
    mine = [key for key in recorded if offered and key.name == offered[0].name]
    new, known, changed = [], [], []
    for key in offered:
        same_type = [old for old in mine if old.key_type == key.key_type]
        if any(old.blob == key.blob for old in same_type):
            known.append(key)
        elif same_type:
            changed.append((same_type[0], key))
        else:
            new.append(key)
    # A host that offers none of its recorded keys changed too (e.g. only an RSA key was recorded and
    # now only an ed25519 key is offered): never trust it silently.
    if mine and not known and not changed:
        changed = [(mine[0], key) for key in offered[:1]]
        new = []
    return Comparison(new=new, known=known, changed=changed)


def record(known_hosts: Path, keys: list[HostKey]) -> None:
    """Append the keys to the client's known_hosts (written whole, then renamed into place)."""
    existing = known_hosts.read_text(encoding="utf-8") if known_hosts.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    content = existing + "".join(key.line() + "\n" for key in keys)
    fd, temporary = tempfile.mkstemp(prefix=".known_hosts-", dir=known_hosts.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(content)
        os.replace(temporary, known_hosts)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
