# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`x is bxops.bitrix.inside(root)`: the one "does this path lie inside that one" of the roles (run on the
controller). Compared by path components after normalising, never by string prefix (/home/bitrix/www2 is not
inside /home/bitrix/www); a `..` component is refused, never resolved (a symlink makes a lexical `..` lie)."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def _components(value: Any, what: str) -> list[str]:
    if not isinstance(value, str):
        raise AnsibleFilterError(f"bxops.bitrix.inside: {what} must be a path string, got {value!r}")
    if any(c in value for c in ("\x00", "\n", "\r")):
        raise AnsibleFilterError(f"bxops.bitrix.inside: {what} {value!r} holds a control character; refused")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise AnsibleFilterError(f"bxops.bitrix.inside: {what} {value!r} has a '..' component; refused "
                                 "(paths are compared as written, '..' is never resolved)")
    return parts


def inside(path: Any, root: Any, strict: bool = False) -> bool:
    """True when `path` is `root` or lies below it (`strict=true`: only below it).

    `root` must be absolute. A relative `path` is taken relative to `root` (docroot-relative settings).
    Repeated slashes, `.` components and a trailing slash do not matter; `..` anywhere is an error.
    """
    if not isinstance(root, str) or not root.startswith("/"):
        raise AnsibleFilterError(f"bxops.bitrix.inside: the root must be an absolute path, got {root!r}")
    base = _components(root, "root")
    parts = _components(path, "path")
    if not path.startswith("/"):
        parts = base + parts
    if parts[:len(base)] != base:
        return False
    return len(parts) > len(base) or not strict


class TestModule:
    """bxops.bitrix path tests."""

    def tests(self) -> dict[str, Any]:
        return {"inside": inside}
