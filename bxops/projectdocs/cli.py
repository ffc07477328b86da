"""`runner.py docs CLIENT`: write the client's living project docs (README.md, integrations.md, components.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from bxops.cli import app, out
from bxops.settings import load_settings


@app.command("docs")
def docs(client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")]) -> None:
    """Write the client's project docs (README, integrations, own code) from the inventory and the latest audits."""
    from bxops.projectdocs.regenerate import describe, regenerate

    out.print(describe(regenerate(load_settings(), client)), markup=False, highlight=False, soft_wrap=True)
