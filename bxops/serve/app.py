"""The Starlette application behind `runner.py serve`.

Every request reads the ledger afresh (no cache), so a new entry shows on reload; the reads are index
scans and SQL sums (the balance's one code path), never the whole ledger: 100,000 entries answer in well
under 200 ms (bench/serve_balance.py). A contract is parsed again only when its file changes.
A client's token opens only that client's pages; the staff view needs a staff token. A missing token is
401, a wrong one (or a token of another client) 404: the body names no client and shows no figure.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bxops.clients import _NAME, Client, find_client, known_clients
from bxops.durations import clock, hours
from bxops.errors import BxopsError
from bxops.ledger.database import Ledger
from bxops.ledger.ids import utcnow
from bxops.serve.tokens import TokenStore, is_staff, matches
from bxops.settings import Settings

if TYPE_CHECKING:
    from bxops.contract import Contract

COOKIE = "bxops_token"
ENTRIES_SHOWN = 100  # the month's latest entries on the page; `?all=1` lists them all
REPORT_KINDS = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

SECURITY_HEADERS = {
    # Report HTML carries its charts as data: URIs and its style inline; nothing runs script.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class ContractCache:
    """Each client's contract, parsed once and again only when its file changes (its size, inode or
    modification time in nanoseconds), so an edited contract shows on the next reload. Parsing the YAML
    took longer than all of the page's ledger reads."""

    def __init__(self) -> None:
        self._parsed: dict[Path, tuple[tuple[int, int, int], Contract]] = {}
        self._lock = threading.Lock()

    def get(self, found: Client) -> Contract:
        path = found.contract_path
        try:
            stat = path.stat()
        except OSError:
            return found.contract()  # the usual error of a missing or unreadable contract
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            cached = self._parsed.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        contract = found.contract()
        with self._lock:
            self._parsed[path] = (stamp, contract)
        return contract


@dataclass
class ServeConfig:
    settings: Settings
    ledger: Ledger
    tokens_file: Path
    contracts: ContractCache = field(default_factory=ContractCache)


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(["j2", "html"], default=True),
    )
    env.filters["hours"] = hours
    env.filters["clock"] = clock
    return env


def _presented(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.query_params.get("token") or request.cookies.get(COOKIE) or None


def _refused(status: int) -> Response:
    text = "401 Unauthorized: a token is needed" if status == 401 else "404 Not Found"
    response = Response(text, status_code=status, media_type="text/plain; charset=utf-8")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="bxops"'
    return response


def _client_page(config: ServeConfig, client: str, all_entries: bool = False) -> dict[str, Any]:
    """Read the ledger now: balance (the `balance` command's own code path), entries, SLA, reports.
    The month's latest ENTRIES_SHOWN entries are listed unless `all_entries` (the balance counts all)."""
    from bxops.bookkeeping import client_balance
    from bxops.ledger.entries import HistoryFilter, history
    from bxops.monthly.cli import REPORTS_FOLDER
    from bxops.monthly.data import sla_section
    from bxops.reports import balance_to_dict

    found = find_client(config.settings.inventories_dir, client)
    contract = config.contracts.get(found)
    month = contract.month_of(utcnow())
    balance = balance_to_dict(client_balance(config.ledger, contract, month))
    limit = None if all_entries else ENTRIES_SHOWN + 1
    entries = history(config.ledger, HistoryFilter(client=client, month=month, limit=limit, brief=True))
    more = len(entries) > ENTRIES_SHOWN and not all_entries
    entries = entries[:ENTRIES_SHOWN] if more else entries
    work_types = contract.term_for(month).work_types
    rows = [
        {
            "id": entry.id,
            "started_at": entry.started_at.astimezone(contract.zone).strftime("%Y-%m-%d %H:%M"),
            "kind": entry.kind,
            "status": entry.status,
            "what": entry.playbook or entry.note or entry.reason or "",
            "work_type": work_types.get(entry.work_type or "", entry.work_type or ""),
            "ticket": entry.ticket or "",
            "raw_seconds": entry.raw_seconds,
            # A run billed in a rounding group (e.g. the month's runs per work type) has no bill of its own:
            # the group is billed as a whole, under "By work type". Working out each member's share would
            # read the whole group on every page view.
            "billed_seconds": entry.billed_seconds if entry.billing_group is None else None,
            "grouped": entry.billing_group is not None,
        }
        for entry in entries
    ]
    sla = sla_section(config.ledger, contract, month) if contract.service.sla is not None else None
    return {
        "client": client,
        "month": str(month),
        "balance": balance,
        "entries": rows,
        "more_entries": more,
        "entries_shown": ENTRIES_SHOWN,
        "sla": sla,
        "reports": list_reports(found.folder / REPORTS_FOLDER),
    }


def list_reports(folder: Path) -> list[dict[str, Any]]:
    """Past reports: `<month>/<name>.html|.pdf` regular files (symlinks are skipped), newest month first."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    months = []
    for month_dir in sorted(folder.iterdir(), key=lambda p: p.name, reverse=True):
        if not _MONTH.match(month_dir.name) or month_dir.is_symlink() or not month_dir.is_dir():
            continue
        files = sorted(
            f.name
            for f in month_dir.iterdir()
            if f.suffix in REPORT_KINDS and _FILE.match(f.name) and not f.is_symlink() and f.is_file()
        )
        if files:
            months.append({"month": month_dir.name, "files": files})
    return months


def _staff_page(config: ServeConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for client in known_clients(config.settings.inventories_dir):
        try:
            page = _client_page(config, client)
        except BxopsError as error:
            rows.append({"client": client, "month": None, "balance": None, "error": str(error)})
            continue
        rows.append({"client": client, "month": page["month"], "balance": page["balance"], "error": None})
    return rows


def build_app(config: ServeConfig) -> Starlette:
    templates = _templates()

    def store() -> TokenStore:
        return TokenStore.load(config.tokens_file)

    def client_allowed(request: Request, client: str) -> Response | None:
        token = _presented(request)
        if token is None:
            return _refused(401)
        if not _NAME.match(client) or not matches(store().clients.get(client), token):
            return _refused(404)
        return None

    def with_cookie(request: Request, response: Response, path: str) -> Response:
        token = request.query_params.get("token")
        if token:
            response.set_cookie(COOKIE, token, path=path, httponly=True, samesite="strict")
        return response

    async def client_index(request: Request) -> Response:
        client = request.path_params["client"]
        refused = client_allowed(request, client)
        if refused is not None:
            return refused
        if request.query_params.get("token"):  # keep the token out of the address bar and history
            return with_cookie(request, RedirectResponse(f"/c/{client}/", status_code=303), f"/c/{client}/")
        page = await run_in_threadpool(_client_page, config, client, request.query_params.get("all") == "1")
        return HTMLResponse(templates.get_template("client.html.j2").render(**page))

    async def client_report(request: Request) -> Response:
        client = request.path_params["client"]
        refused = client_allowed(request, client)
        if refused is not None:
            return refused
        month, name = request.path_params["month"], request.path_params["name"]
        suffix = Path(name).suffix
        if not _MONTH.match(month) or not _FILE.match(name) or suffix not in REPORT_KINDS:
            return _refused(404)
        from bxops.monthly.cli import REPORTS_FOLDER

        folder = find_client(config.settings.inventories_dir, client).folder / REPORTS_FOLDER
        path = folder / month / name
        if any(p.is_symlink() for p in (folder, folder / month, path)) or not path.is_file():
            return _refused(404)
        return FileResponse(path, media_type=REPORT_KINDS[suffix])

    async def staff(request: Request) -> Response:
        token = _presented(request)
        if token is None:
            return _refused(401)
        if not is_staff(store(), token):
            return _refused(404)
        if request.query_params.get("token"):
            return with_cookie(request, RedirectResponse("/staff/", status_code=303), "/staff/")
        rows = await run_in_threadpool(_staff_page, config)
        return HTMLResponse(templates.get_template("staff.html.j2").render(rows=rows))

    async def root(request: Request) -> Response:
        return Response("bxops balance pages: open the link you were given.", media_type="text/plain")

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/c/{client}/", client_index),
            Route("/c/{client}/reports/{month}/{name}", client_report),
            Route("/staff/", staff),
        ]
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        return response

    return app
