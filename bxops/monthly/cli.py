"""`runner.py report CLIENT --month YYYY-MM [--format html,pdf,md,json] [--lang ru|en] [--out DIR]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bxops.cli import app, opened_ledger, out
from bxops.clients import find_client
from bxops.errors import BxopsError
from bxops.ledger.ids import utcnow
from bxops.periods import Month
from bxops.settings import load_settings

REPORTS_FOLDER = "monthly-reports"


def parse_formats(text: str) -> list[str]:
    from bxops.monthly.render import FORMATS

    wanted = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in FORMATS]
    if unknown or not wanted:
        raise BxopsError(f"unknown report format {', '.join(unknown) or text!r} (known: {', '.join(FORMATS)})")
    return list(dict.fromkeys(wanted))


def report_folder(client_dir: Path, month: Month, out_dir: Path | None) -> Path:
    """Per client and month: `inventories/<client>/monthly-reports/<YYYY-MM>/` (or `<out>/<client>/<YYYY-MM>`)."""
    base = out_dir / client_dir.name if out_dir is not None else client_dir / REPORTS_FOLDER
    return base / str(month)


@app.command("report")
def monthly_report(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    month: Annotated[
        str | None, typer.Option("--month", "-m", help="YYYY-MM, e.g. 2026-11 (default: this month, client's zone).")
    ] = None,
    formats: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: html,pdf,md,json.")] = "html,pdf",
    lang: Annotated[str, typer.Option("--lang", help="ru or en.")] = "ru",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the reports (default: the client's monthly-reports/).")
    ] = None,
) -> None:
    """The client's monthly report: hours, work done, infrastructure, security, SLA, next steps."""
    from bxops.monthly.render import LANGUAGES

    wanted_formats = parse_formats(formats)
    if lang not in LANGUAGES:
        raise BxopsError(f"unknown language {lang!r} (known: {', '.join(LANGUAGES)})")
    parsed = Month.parse(month) if month is not None else None
    settings = load_settings()
    found = find_client(settings.inventories_dir, client)
    contract = found.contract()
    wanted = parsed if parsed is not None else contract.month_of(utcnow())
    contract.term_for(wanted)  # a month before the contract: one line, nothing written

    from bxops.monthly.data import collect
    from bxops.monthly.render import render

    with opened_ledger(settings) as ledger:
        document = collect(ledger, contract, found.folder, wanted)
    document["lang"] = lang
    rendered = render(document, wanted_formats, lang)
    folder = report_folder(found.folder, wanted, out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for extension, content in rendered.items():
        target = folder / f"report-{lang}.{extension}"
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(content)
        partial.replace(target)
        out.print(str(target), markup=False, highlight=False, soft_wrap=True)
