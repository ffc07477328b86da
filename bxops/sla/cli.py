"""`runner.py incident open|respond|wait|resume|resolve` and `runner.py sla CLIENT --month M`."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from bxops.cli import app, err, opened_ledger, out
from bxops.clients import find_client
from bxops.durations import clock
from bxops.errors import BxopsError
from bxops.ledger.ids import utcnow
from bxops.periods import Month
from bxops.settings import load_settings

if TYPE_CHECKING:
    from bxops.sla.engine import ClockResult

incident_app = typer.Typer(help="Incidents under the SLA, without a tracker: open, respond, wait, resume, resolve.")
app.add_typer(incident_app, name="incident")

_AT_HELP = "When, ISO 8601 (YYYY-MM-DDTHH:MM, in the client's time zone unless it has an offset); default: now."


def parse_at(text: str | None, zone: ZoneInfo) -> datetime:
    if text is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BxopsError(f"invalid time {text!r}: expected ISO 8601, e.g. 2026-11-30T14:05") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def month_bounds(month: Month, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first and next month's first instant, midnight in the client's zone, in UTC."""
    start = datetime.combine(month.first_day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(month.next().first_day, time(0), tzinfo=zone).astimezone(UTC)
    return start, end


@incident_app.command("open")
def incident_open(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    priority: Annotated[str, typer.Option("--priority", "-p", help="One of the contract's SLA priorities.")],
    title: Annotated[str, typer.Option("--title", help="What is wrong.")],
    ticket: Annotated[str | None, typer.Option("--ticket", help="Reference, e.g. the client's e-mail subject.")] = None,
    at: Annotated[str | None, typer.Option("--at", help=_AT_HELP)] = None,
    engineer: Annotated[str | None, typer.Option("--engineer", help="Who records it (default: login).")] = None,
) -> None:
    """Open an incident: its response and resolution clocks start."""
    from bxops.sla.incidents import open_incident
    from bxops.sla.terms import SlaTerms

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    known = (contract.service.sla or SlaTerms()).priorities
    if priority not in known:
        raise BxopsError(f"unknown priority {priority!r} for {client} (known: {', '.join(known)})")
    if not title.strip():
        raise BxopsError("an incident needs a title")
    opened = parse_at(at, contract.zone)
    with opened_ledger(settings) as ledger:
        row = open_incident(ledger, client, priority, title, opened, engineer or settings.engineer, ticket)
    out.print(f"incident #{row.id} ({priority}) opened at {opened.astimezone(contract.zone).isoformat()}")


@incident_app.command("pull")
def incident_pull(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    tickets: Annotated[list[str], typer.Argument(metavar="TICKET...", help="Tickets of the client's tracker.")],
) -> None:
    """Read tickets from the client's tracker (priority, opening, status changes, staff comments) into
    incidents, created or brought up to date."""
    from bxops.sla.incidents import upsert_ticket
    from bxops.trackers.base import connect

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    terms = contract.service.tracker
    if terms is None:
        raise BxopsError(f"client {client!r} has no tracker in its contract (section 'tracker')")
    tracker = connect(client, terms)
    try:
        infos = [tracker.ticket(ticket) for ticket in tickets]  # every ticket read before anything is written
    finally:
        tracker.http.close()
    from bxops.sla.incidents import from_ticket

    for info in infos:
        from_ticket(client, info, terms)  # an unmapped priority: refused before anything is written
    with opened_ledger(settings) as ledger:
        for info in infos:
            row = upsert_ticket(ledger, client, terms.type.value, info, terms)
            out.print(f"incident #{row.id}: {info.key} ({row.priority}, {row.status})", highlight=False)


def _handle_alerts(client: str, payload: object) -> list[str]:
    """Open tickets for the payload's firing alerts; the lines to report."""
    from bxops.sla.alerts import open_from_alerts
    from bxops.trackers.base import connect

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    terms = contract.service.tracker
    if terms is None:
        raise BxopsError(f"client {client!r} has no tracker in its contract (section 'tracker')")
    tracker = connect(client, terms)
    try:
        with opened_ledger(settings) as ledger:
            outcome = open_from_alerts(ledger, contract, tracker, payload)
    finally:
        tracker.http.close()
    lines = [f"{fingerprint}: opened {ticket} ({priority})" for fingerprint, ticket, priority in outcome.opened]
    return lines + outcome.repeated + outcome.skipped


@app.command("alert")
def alert_command(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    payload_file: Annotated[
        typer.FileText, typer.Option("--file", "-f", help="Alertmanager's webhook JSON (default: stdin).")
    ] = None,  # type: ignore[assignment]
) -> None:
    """Open a ticket in the client's tracker for each firing alert of an Alertmanager webhook payload."""
    import json

    handle = payload_file if payload_file is not None else sys.stdin
    try:
        payload = json.load(handle)
    except ValueError as error:
        raise BxopsError(f"the payload is not JSON: {error}") from None
    for line in _handle_alerts(client, payload):
        out.print(line, markup=False, highlight=False)


@app.command("alert-receiver")
def alert_receiver(
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to listen on.")] = "127.0.0.1:9095",
) -> None:
    """Serve Alertmanager's webhook: POST /alertmanager/<client> (webhook_config url) opens the tickets."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise BxopsError(f"--listen must be HOST:PORT, got {listen!r}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            match = re.fullmatch(r"/alertmanager/([A-Za-z0-9][A-Za-z0-9_.-]*)", self.path)
            status = 404
            answer: dict[str, object] = {"error": "POST /alertmanager/<client>"}
            if match is not None:
                try:
                    length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                    payload = json.loads(self.rfile.read(length) or b"null")
                    status, answer = 200, {"done": _handle_alerts(match.group(1), payload)}
                except BxopsError as error:
                    status, answer = 400, {"error": str(error)}
                except ValueError:
                    status, answer = 400, {"error": "the payload is not JSON"}
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            err.print(f"{self.path}: {status} {answer}", markup=False, highlight=False)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, int(port)), Handler)
    err.print(f"listening on http://{host}:{server.server_address[1]}/alertmanager/<client>", highlight=False)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _change(incident_id: int, verb: str, at: str | None) -> None:
    from bxops.ledger.models import Incident
    from bxops.sla.incidents import change_incident

    settings = load_settings()
    with opened_ledger(settings) as ledger:
        with ledger.sessions() as session:
            found = session.get(Incident, incident_id)
            if found is None:
                raise BxopsError(f"no incident #{incident_id}")
            client = found.client
        contract = find_client(settings.inventories_dir, client).contract()
        row = change_incident(ledger, incident_id, verb, parse_at(at, contract.zone))
    out.print(f"incident #{row.id}: {row.status}")


_ID = Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident's number.")]
_AT = Annotated[str | None, typer.Option("--at", help=_AT_HELP)]


@incident_app.command("respond")
def incident_respond(incident: _ID, at: _AT = None) -> None:
    """The agency's first response: stops the response clock."""
    _change(incident, "respond", at)


@incident_app.command("wait")
def incident_wait(incident: _ID, at: _AT = None) -> None:
    """Waiting for the client: the clocks pause (the contract's pause_statuses)."""
    _change(incident, "wait", at)


@incident_app.command("resume")
def incident_resume(incident: _ID, at: _AT = None) -> None:
    """The client answered: the clocks run again."""
    _change(incident, "resume", at)


@incident_app.command("resolve")
def incident_resolve(incident: _ID, at: _AT = None) -> None:
    """Resolved: stops the resolution clock (and the response clock, if still running)."""
    _change(incident, "resolve", at)


def _clock_dict(result: ClockResult) -> dict[str, Any]:
    return {
        "target_seconds": result.target_seconds,
        "elapsed_seconds": result.elapsed_seconds,
        "stopped": result.stopped,
        "state": result.state.value,
        "due_at": result.due_at.isoformat() if result.due_at is not None else None,
    }


def _seconds(value: float | int | None) -> str:
    return "—" if value is None else clock(value)


@app.command("sla")
def sla_report(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    month: Annotated[str | None, typer.Option("--month", "-m", help="YYYY-MM (default: this month).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Judge running clocks at this time (default: now); ISO 8601.")
    ] = None,
) -> None:
    """The month's SLA: per priority count, met, breached, at risk, median and worst times; the breaches."""
    from bxops.reports import to_json
    from bxops.sla.engine import breaches, evaluate, report
    from bxops.sla.incidents import facts, incidents_opened_in
    from bxops.sla.terms import SlaTerms

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    zone = contract.zone
    now = parse_at(as_of, zone)
    wanted = Month.parse(month) if month else contract.month_of(now)
    start, end = month_bounds(wanted, zone)
    sla = contract.service.sla or SlaTerms()
    with opened_ledger(settings) as ledger:
        rows = incidents_opened_in(ledger, client, start, end)
    evaluated = []
    for row in rows:
        if row.priority not in sla.priorities:
            raise BxopsError(
                f"{client}: incident #{row.id} ({row.ticket or 'manual'}) has priority {row.priority!r}, "
                f"which the contract's SLA does not name (known: {', '.join(sla.priorities)})"
            )
        evaluated.append(evaluate(facts(row), contract.service, now))
    table = report(evaluated, list(sla.priorities))
    found = breaches(evaluated)
    if as_json:
        document: dict[str, Any] = {
            "client": client,
            "month": str(wanted),
            "timezone": contract.service.timezone,
            "as_of": now.isoformat(),
            "priorities": [dict(line.__dict__) for line in table],
            "breaches": found,
            "incidents": [
                {
                    "id": item.incident.id,
                    "ticket": item.incident.ticket,
                    "priority": item.incident.priority,
                    "opened_at": item.incident.opened_at.isoformat(),
                    "response": _clock_dict(item.response),
                    "resolution": _clock_dict(item.resolution),
                }
                for item in evaluated
            ],
        }
        out.print_json(to_json(document))
        return
    shown = Table(title=f"{client} SLA {wanted} ({contract.service.timezone})")
    for header in (
        "priority",
        "count",
        "met",
        "breached",
        "at risk",
        "open",
        "response median",
        "response worst",
        "resolution median",
        "resolution worst",
    ):
        shown.add_column(header)
    for line in table:
        shown.add_row(
            line.priority,
            str(line.count),
            str(line.met),
            str(line.breached),
            str(line.at_risk),
            str(line.open),
            _seconds(line.response_median),
            _seconds(line.response_worst),
            _seconds(line.resolution_median),
            _seconds(line.resolution_worst),
        )
    out.print(shown)
    if not found:
        out.print("no breaches")
    for breach in found:
        out.print(
            f"breach: incident #{breach['incident']} {breach['ticket'] or ''} ({breach['priority']}) "
            f"{breach['clock']} took {clock(breach['elapsed_seconds'])}, target {clock(breach['target_seconds'])}"
            + ("" if breach["stopped"] else " (still running)"),
            markup=False,
            highlight=False,
        )
