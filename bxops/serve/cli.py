"""`runner.py serve [--host 127.0.0.1] [--port 8080]` and `runner.py serve-token CLIENT [--staff]`."""

from __future__ import annotations

from typing import Annotated

import typer

from bxops.cli import app, err, out
from bxops.clients import _NAME, find_client
from bxops.errors import BxopsError
from bxops.settings import load_settings


@app.command("serve-token")
def serve_token(
    name: Annotated[str, typer.Argument(help="Client (a folder under inventories/), or a staff name with --staff.")],
    staff: Annotated[bool, typer.Option("--staff", help="A token for the staff view of all clients.")] = False,
) -> None:
    """Create (or replace) an access token for the balance page; printed once, only its hash is kept."""
    from bxops.serve.tokens import TokenStore, tokens_path

    settings = load_settings()
    if staff:
        if not _NAME.match(name):
            raise BxopsError(f"invalid staff name {name!r}")
    else:
        find_client(settings.inventories_dir, name)
    path = tokens_path(settings)
    store = TokenStore.load(path)
    token = store.issue(name, staff=staff)
    store.save(path)
    err.print(f"token for {'staff ' if staff else ''}{name} stored hashed in {path}; shown only now:", markup=False)
    out.print(token, markup=False, highlight=False, soft_wrap=True)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
) -> None:
    """Serve the read-only balance pages: /c/CLIENT/?token=…, and /staff/ for all clients."""
    import uvicorn

    from bxops.ledger.database import open_ledger
    from bxops.serve.app import ServeConfig, build_app
    from bxops.serve.tokens import tokens_path

    if not 0 < port < 65536:
        raise BxopsError(f"port must be 1-65535, got {port}")
    settings = load_settings()
    ledger = open_ledger(settings.ledger_url)
    try:
        config = ServeConfig(settings=settings, ledger=ledger, tokens_file=tokens_path(settings))
        err.print(f"bxops serve: http://{host}:{port}/ (tokens: {config.tokens_file})", markup=False)
        uvicorn.run(build_app(config), host=host, port=port, log_level="warning", access_log=False)
    finally:
        ledger.dispose()
