"""`runner.py docs CLIENT`: write the client's living project docs (README.md, integrations.md, components.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bxops.cli import app, out
from bxops.clients import find_client
from bxops.settings import Settings, load_settings


def regenerate(settings: Settings, client: str, now: datetime | None = None) -> object:
    """Gather the client's facts and write its docs (the changed ones, each diff to CHANGELOG.md)."""
    from bxops.projectdocs.facts import gather
    from bxops.projectdocs.writer import write_docs

    found = find_client(settings.inventories_dir, client)
    facts = gather(found.name, found.folder, found.inventory(), settings.playbooks_dir)
    return write_docs(facts, found.folder, now)


def describe(result: object) -> str:
    from bxops.projectdocs.writer import DocsResult

    assert isinstance(result, DocsResult)
    folder = Path(result.folder)
    if not result.changed:
        return f"project docs unchanged in {folder} ({', '.join(result.unchanged)})"
    return (f"project docs written to {folder}: {', '.join(result.changed)} changed"
            + (f", diff appended to {result.changelog}" if result.changelog else ""))


@app.command("docs")
def docs(client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")]) -> None:
    """Write the client's project docs (README, integrations, own code) from the inventory and the latest audits."""
    out.print(describe(regenerate(load_settings(), client)), markup=False, highlight=False, soft_wrap=True)
