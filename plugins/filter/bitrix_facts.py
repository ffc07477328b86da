# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Bitrix facts of module_utils/bitrix_facts.py for roles (run on the controller): one source for the
modules on the host and the roles' defaults."""
from __future__ import annotations

from typing import Any

from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_facts import disposable_folders


def _disposable_folders(upload_dir: str = "upload") -> list[str]:
    """`'upload' | bxops.bitrix.disposable_folders`: every disposable folder relative to the docroot."""
    return disposable_folders(str(upload_dir or "upload"))


class FilterModule:
    """bxops.bitrix Bitrix facts."""

    def filters(self) -> dict[str, Any]:
        return {"disposable_folders": _disposable_folders}
