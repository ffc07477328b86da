# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-side filter of the php_upgrade and bitrixvm scenarios (loaded from beside their playbooks; bitrixvm's is a
symlink to this file): the generator's truth.json pages as php_upgrade_smoke_urls. It lives here, not in plugins/:
production code knows nothing of the generator."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def truth_smoke_urls(pages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """truth.json pages ({url, marker}) as smoke URLs ({path, status 200, marker})."""
    return [{"path": p["url"], "status": 200, "marker": p.get("marker", "")} for p in pages]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"truth_smoke_urls": truth_smoke_urls}
