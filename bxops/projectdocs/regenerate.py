"""One call for the command and the runner's hook: gather a client's facts and write its docs."""

from __future__ import annotations

from datetime import datetime

from bxops.clients import find_client
from bxops.projectdocs.facts import gather
from bxops.projectdocs.writer import DocsResult, write_docs
from bxops.settings import Settings


def regenerate(settings: Settings, client: str, now: datetime | None = None) -> DocsResult:
    """Write the client's docs (the changed ones, each diff appended to its CHANGELOG.md)."""
    found = find_client(settings.inventories_dir, client)
    facts = gather(found.name, found.folder, found.inventory(), settings.playbooks_dir)
    return write_docs(facts, found.folder, now)


def describe(result: DocsResult) -> str:
    if not result.changed:
        return f"project docs unchanged in {result.folder} ({', '.join(result.unchanged)})"
    return (f"project docs written to {result.folder}: {', '.join(result.changed)} changed"
            + (f", diff appended to {result.changelog}" if result.changelog else ""))
