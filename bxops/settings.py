"""Where things live: the checkout, inventories, playbooks, artifacts, and the ledger's URL.

Order of precedence for each value: environment variable, then the config file
(`$BXOPS_CONFIG`, else `<root>/bxops.toml`), then the default.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bxops.errors import BxopsError

DEFAULT_HEARTBEAT_SECONDS = 5.0


def find_root() -> Path:
    explicit = os.environ.get("BXOPS_ROOT")
    if explicit:
        return Path(explicit).resolve()
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / "galaxy.yml").is_file():
        return package_parent
    return Path.cwd()


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BxopsError(f"config file {path}: {error}") from None


@dataclass(frozen=True)
class Settings:
    root: Path
    inventories_dir: Path
    playbooks_dir: Path
    artifacts_dir: Path
    ledger_url: str
    engineer: str
    heartbeat_seconds: float

    @property
    def ansible_cfg(self) -> Path | None:
        path = self.root / "ansible.cfg"
        return path if path.is_file() else None


def load_settings() -> Settings:
    root = find_root()
    config_path = Path(os.environ.get("BXOPS_CONFIG") or root / "bxops.toml")
    config = _read_config(config_path)

    def pick(env: str, key: str, default: str) -> str:
        value = os.environ.get(env) or config.get(key)
        return str(value) if value not in (None, "") else default

    def path(env: str, key: str, default: Path) -> Path:
        chosen = Path(pick(env, key, str(default))).expanduser()
        return chosen if chosen.is_absolute() else root / chosen

    heartbeat_text = pick("BXOPS_HEARTBEAT_SECONDS", "heartbeat_seconds", str(DEFAULT_HEARTBEAT_SECONDS))
    try:
        heartbeat = float(heartbeat_text)
        if heartbeat <= 0:
            raise ValueError
    except ValueError:
        raise BxopsError(f"heartbeat_seconds must be a positive number, got {heartbeat_text!r}") from None
    return Settings(
        root=root,
        inventories_dir=path("BXOPS_INVENTORIES_DIR", "inventories_dir", root / "inventories"),
        playbooks_dir=path("BXOPS_PLAYBOOKS_DIR", "playbooks_dir", root / "playbooks"),
        artifacts_dir=path("BXOPS_ARTIFACTS_DIR", "artifacts_dir", root / "var" / "artifacts"),
        ledger_url=pick("BXOPS_LEDGER_URL", "ledger_url", str(root / "var" / "ledger.sqlite")),
        engineer=pick("BXOPS_ENGINEER", "engineer", _login_name()),
        heartbeat_seconds=heartbeat,
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
