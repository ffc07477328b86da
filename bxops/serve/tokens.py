"""Access tokens of the balance page, kept hashed in the agency's token file.

Where: `serve_tokens_file` in bxops.toml, or `$BXOPS_SERVE_TOKENS`, else `<root>/serve-tokens.toml`.
Only the SHA-256 of each token is stored (a token is 32 random bytes: no dictionary to guard against, so
a slow KDF adds nothing but latency). The file is written with mode 0600:

    [clients]
    demo = "sha256:<hex>"
    [staff]
    alice = "sha256:<hex>"
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bxops.errors import BxopsError
from bxops.settings import Settings, find_root

PREFIX = "sha256:"


def tokens_path(settings: Settings) -> Path:
    from bxops.settings import _read_config

    root = find_root()
    config_path = Path(os.environ.get("BXOPS_CONFIG") or root / "bxops.toml")
    chosen = os.environ.get("BXOPS_SERVE_TOKENS") or _read_config(config_path).get("serve_tokens_file")
    if not chosen:
        return settings.root / "serve-tokens.toml"
    path = Path(str(chosen)).expanduser()
    return path if path.is_absolute() else settings.root / path


def digest(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class TokenStore:
    clients: dict[str, str] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            return cls()
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise BxopsError(f"token file {path}: {error}") from None
        store = cls()
        for section, target in (("clients", store.clients), ("staff", store.staff)):
            table = data.get(section, {})
            if not isinstance(table, dict):
                raise BxopsError(f"token file {path}: [{section}] must be a table")
            for name, value in table.items():
                if not isinstance(value, str) or not value.startswith(PREFIX):
                    raise BxopsError(f"token file {path}: {section}.{name} is not a {PREFIX} digest")
                target[str(name)] = value
        return store

    def save(self, path: Path) -> None:
        lines = ["# Balance page access tokens (runner.py serve-token): SHA-256 digests only.", "[clients]"]
        lines += [f"{json.dumps(name)} = {json.dumps(value)}" for name, value in sorted(self.clients.items())]
        lines += ["", "[staff]"]
        lines += [f"{json.dumps(name)} = {json.dumps(value)}" for name, value in sorted(self.staff.items())]
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(temporary, path)

    def issue(self, name: str, staff: bool = False) -> str:
        """A new token for `name` (replacing any earlier one): returned once, only its digest kept."""
        token = secrets.token_urlsafe(32)
        (self.staff if staff else self.clients)[name] = digest(token)
        return token


def matches(stored: str | None, token: str | None) -> bool:
    """Constant-time comparison of the presented token's digest with the stored one."""
    if not token:
        return False
    presented = digest(token)
    return hmac.compare_digest(presented.encode(), (stored or PREFIX + "0" * 64).encode())


def is_staff(store: TokenStore, token: str | None) -> bool:
    found = False
    for stored in store.staff.values():
        found |= matches(stored, token)
    return found
