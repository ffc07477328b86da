"""A client is a folder `inventories/<client>/`: hosts inventory, group_vars, optional vault, contract.yml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bxops.errors import BxopsError

if TYPE_CHECKING:
    from bxops.contract import Contract

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
INVENTORY_NAMES = ("hosts.yml", "hosts.yaml", "hosts.ini", "hosts")
CONTRACT_NAME = "contract.yml"


class Environment(StrEnum):
    STAGING = "staging"
    PRODUCTION = "production"


def parse_environment(text: str) -> Environment:
    try:
        return Environment(text)
    except ValueError:
        raise BxopsError(f"environment must be staging or production, got {text!r}") from None


@dataclass(frozen=True)
class Client:
    name: str
    folder: Path

    @property
    def contract_path(self) -> Path:
        return self.folder / CONTRACT_NAME

    def contract(self) -> Contract:
        from bxops.contract import load_contract  # pydantic: only once a contract is read

        return load_contract(self.name, self.contract_path)

    def inventory(self) -> Path:
        for name in INVENTORY_NAMES:
            candidate = self.folder / name
            if candidate.is_file():
                return candidate
        raise BxopsError(
            f"client {self.name!r} has no inventory ({' / '.join(INVENTORY_NAMES)} in {self.folder})"
        )

    def check_environment_group(self, environment: Environment) -> None:
        """Best effort for YAML inventories: the environment must be a group of the inventory."""
        inventory = self.inventory()
        if inventory.suffix not in (".yml", ".yaml"):
            return
        try:
            data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError):
            return  # Ansible will say what is wrong with it
        groups: set[str] = set()

        def walk(node: object) -> None:
            if not isinstance(node, dict):
                return
            for name, body in node.items():
                groups.add(str(name))
                if isinstance(body, dict):
                    walk(body.get("children"))

        walk(data)
        if groups and environment.value not in groups:
            raise BxopsError(f"inventory {inventory} has no group {environment.value!r}")


def known_clients(inventories_dir: Path) -> list[str]:
    if not inventories_dir.is_dir():
        return []
    return sorted(p.name for p in inventories_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_client(inventories_dir: Path, name: str) -> Client:
    if not _NAME.match(name):
        raise BxopsError(f"invalid client name {name!r}")
    folder = inventories_dir / name
    if not folder.is_dir():
        known = ", ".join(known_clients(inventories_dir)) or "none"
        raise BxopsError(f"unknown client {name!r} (no folder {folder}; known: {known})")
    return Client(name=name, folder=folder)


def find_playbook(playbooks_dir: Path, name: str) -> Path:
    """`audit` → playbooks/audit.yml; a name with .yml/.yaml is taken as is, inside playbooks/ only."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise BxopsError(f"invalid playbook name {name!r}: give a file name from {playbooks_dir}")
    candidates = [name] if name.endswith((".yml", ".yaml")) else [f"{name}.yml", f"{name}.yaml"]
    for candidate in candidates:
        path = playbooks_dir / candidate
        if path.is_file():
            return path
    available = sorted(p.stem for p in playbooks_dir.glob("*.yml")) if playbooks_dir.is_dir() else []
    raise BxopsError(f"unknown playbook {name!r} (available: {', '.join(available) or 'none'})")


def playbook_name(path: Path) -> str:
    return path.stem
