"""The command line: `runner.py run | balance | log | adjust | correct | history | contract | trust-host | docs`.

Importing this module stays light (typer, rich's console): each command imports the ledger (SQLAlchemy)
and the contracts (pydantic) itself, so that `run` can start Ansible first (see bxops.launch).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from bxops.clients import find_client
from bxops.durations import clock, hours, parse_duration
from bxops.errors import BxopsError, RunRefused
from bxops.ledger.ids import utcnow
from bxops.periods import Month
from bxops.settings import Settings, load_settings

if TYPE_CHECKING:
    from bxops.ledger.database import Ledger

EXIT_ERROR = 1
EXIT_REFUSED = 3

app = typer.Typer(
    name="bxops",
    help="Run maintenance playbooks for a client and keep the hour ledger: every run becomes billable time.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


@contextmanager
def opened_ledger(settings: Settings) -> Iterator[Ledger]:
    """The ledger, for one command: runs whose runner was lost are recorded as interrupted first (and
    said so); its connections are closed at the end."""
    from bxops.bookkeeping import open_and_recover

    ledger, recovered = open_and_recover(settings)
    try:
        for entry in recovered:
            err.print(
                f"[magenta]note:[/] run #{entry.id} ({entry.client} {entry.playbook}) had lost its runner: "
                f"recorded as interrupted after {clock(entry.raw_seconds)} (up to its last heartbeat)"
            )
        yield ledger
    finally:
        ledger.dispose()


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BxopsError(f"invalid date {text!r}: expected YYYY-MM-DD") from None


@app.command()
def run(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    environment: Annotated[str, typer.Argument(metavar="ENV", help="staging or production.")],
    playbook: Annotated[
        str, typer.Argument(help="A playbook in playbooks/, e.g. audit → playbooks/audit.yml.")
    ],
    tags: Annotated[str | None, typer.Option("--tags", "-t", help="Only tasks with these tags.")] = None,
    skip_tags: Annotated[str | None, typer.Option("--skip-tags", help="Skip tasks with these tags.")] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", "-l", help="Narrow the hosts further (within ENV).")
    ] = None,
    check: Annotated[bool, typer.Option("--check", "-C", help="Ansible check mode: change nothing.")] = False,
    diff: Annotated[bool, typer.Option("--diff", "-D", help="Show differences in changed files.")] = False,
    extra_vars: Annotated[
        list[str] | None,
        typer.Option("--extra-vars", "-e", help="name=value, @file.yml or a YAML mapping; repeatable."),
    ] = None,
    vault_password_file: Annotated[
        Path | None, typer.Option("--vault-password-file", help="Password file for the client's vault.")
    ] = None,
    ticket: Annotated[str | None, typer.Option("--ticket", help="Tracker reference, e.g. BX-123.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note kept with the entry.")] = None,
    work_type: Annotated[
        str | None,
        typer.Option("--work-type", help="Override the work type found from the playbook's roles."),
    ] = None,
    allow_overage: Annotated[
        bool,
        typer.Option("--allow-overage", help="Run even when the contract refuses the overage (recorded)."),
    ] = False,
    engineer: Annotated[
        str | None, typer.Option("--engineer", help="Who runs it (default: login name).")
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="Ansible verbosity.")] = 0,
) -> None:
    """Run a playbook for a client and an environment, and record it in the ledger."""
    from bxops.launch import RunRequest, start_early  # ansible-runner: only when running

    settings = load_settings()
    request = RunRequest(
        client=client,
        environment=environment,
        playbook=playbook,
        engineer=engineer or settings.engineer,
        tags=tags,
        skip_tags=skip_tags,
        limit=limit,
        check=check,
        diff=diff,
        extra_vars=extra_vars or [],
        vault_password_file=vault_password_file,
        ticket=ticket,
        note=note,
        work_type=work_type,
        allow_overage=allow_overage,
        verbosity=verbose,
    )
    early = start_early(settings, request)  # Ansible boots, held before its first task, while the ledger opens
    try:
        from bxops.accounted_run import execute_run, prepare  # SQLAlchemy, pydantic

        prepared = prepare(settings, request, early.target if early is not None else None)
        with opened_ledger(settings) as ledger:
            _start_up_done()
            code = execute_run(settings, ledger, request, prepared, out, err, early)
    finally:
        if early is not None:
            early.job.discard()  # never released (a check failed, the run was refused): it ran no task
    raise typer.Exit(code)


@app.command()
def balance(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    month: Annotated[str | None, typer.Option("--month", "-m", help="YYYY-MM (default: this month).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The hour pool of a month: allotment, carried in, used by work type, remaining, overage, expiry."""
    from bxops.bookkeeping import client_balance
    from bxops.reports import balance_to_dict, print_balance, to_json

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    wanted = Month.parse(month) if month else contract.month_of(utcnow())
    contract.term_for(wanted)
    with opened_ledger(settings) as ledger:
        result = client_balance(ledger, contract, wanted)
    if as_json:
        out.print_json(to_json(balance_to_dict(result)))
    else:
        print_balance(out, result)


@app.command("log")
def log_work(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    duration: Annotated[
        str, typer.Option("--duration", "-d", help="Time spent: 90m, 1.5h, 1h30m, 45 (minutes).")
    ],
    work_type: Annotated[str, typer.Option("--work-type", "-w", help="One of the contract's work types.")],
    note: Annotated[str, typer.Option("--note", "-n", help="What was done.")],
    ticket: Annotated[str | None, typer.Option("--ticket", help="Tracker reference, e.g. BX-123.")] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="Day the work was done, YYYY-MM-DD (the client's time zone).")
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--env", help="staging or production, if relevant.")
    ] = None,
    engineer: Annotated[
        str | None, typer.Option("--engineer", help="Who did it (default: login name).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new entry as JSON.")] = False,
) -> None:
    """Add a manual entry for work no playbook did (editor support, a bug fix, documentation)."""
    from bxops.bookkeeping import bill, client_balance
    from bxops.ledger.entries import ManualWork, add_manual, billing_shares
    from bxops.reports import billed_of, entry_to_dict, to_json

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    raw = parse_duration(duration)
    if raw <= 0:
        raise BxopsError("duration must be more than zero")
    day = _parse_day(on)
    started = (
        datetime.combine(day, time(9, 0), tzinfo=contract.zone).astimezone(UTC)
        if day is not None
        else utcnow() - timedelta(seconds=raw)
    )
    entry_month = contract.month_of(started)
    term = contract.term_for(entry_month)
    term.require_work_type(work_type, client)
    if environment is not None and environment not in ("staging", "production"):
        raise BxopsError(f"environment must be staging or production, got {environment!r}")
    billing = bill(contract, started, raw, work_type=work_type, ticket=ticket)
    with opened_ledger(settings) as ledger:
        entry = add_manual(
            ledger,
            ManualWork(
                client=client,
                engineer=engineer or settings.engineer,
                work_type=work_type,
                started_at=started,
                raw_seconds=raw,
                billed_seconds=billing.billed_seconds,
                billing_group=billing.group,
                contract_term=billing.contract_term,
                ticket=ticket,
                note=note,
                environment=environment,
                month=entry_month,
            ),
        )
        share = billing_shares(ledger, client, [entry]).get(entry.id)
        after = client_balance(ledger, contract, entry_month)
    if as_json:
        out.print_json(to_json(entry_to_dict(entry, share)))
        return
    out.print(
        f"entry #{entry.id}: {clock(raw)} of {term.work_types[work_type]}, billed {hours(billed_of(entry, share))}"
        + (f" (rounded per {share.group.label()}: {hours(share.group_billed_seconds)} in all)" if share else "")
    )
    out.print(
        f"{client} {after.month}: {hours(after.remaining_seconds)} remaining, "
        f"overage {hours(after.overage_seconds)}"
    )


@app.command()
def adjust(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    hours_: Annotated[
        float, typer.Option("--hours", help="Signed hours: positive bills more, negative credits the pool.")
    ],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required).")],
    month: Annotated[str | None, typer.Option("--month", "-m", help="YYYY-MM (default: this month).")] = None,
    work_type: Annotated[str | None, typer.Option("--work-type", "-w", help="Work type, if any.")] = None,
    ticket: Annotated[str | None, typer.Option("--ticket", help="Tracker reference.")] = None,
    engineer: Annotated[str | None, typer.Option("--engineer", help="Who (default: login name).")] = None,
) -> None:
    """Add a signed adjustment of billed hours, with a reason."""
    from bxops.ledger.entries import ManualWork, add_manual
    from bxops.ledger.models import EntryKind

    settings = load_settings()
    contract = find_client(settings.inventories_dir, client).contract()
    if not reason.strip():
        raise BxopsError("an adjustment needs a reason")
    seconds = round(hours_ * 3600)
    if seconds == 0 or abs(hours_) > 744:
        raise BxopsError(f"adjustment must be non-zero and at most 744 hours, got {hours_}")
    now = utcnow()
    wanted = Month.parse(month) if month else contract.month_of(now)
    started = (
        now
        if wanted == contract.month_of(now)
        else datetime.combine(wanted.first_day, time(0, 0), tzinfo=contract.zone).astimezone(UTC)
    )
    term = contract.term_for(wanted)
    term.require_work_type(work_type, client)
    with opened_ledger(settings) as ledger:
        entry = add_manual(
            ledger,
            ManualWork(
                client=client,
                engineer=engineer or settings.engineer,
                work_type=work_type,
                started_at=started,
                raw_seconds=0,
                billed_seconds=seconds,
                contract_term=term.effective_from.isoformat(),
                ticket=ticket,
                reason=reason,
                kind=EntryKind.ADJUSTMENT,
                month=wanted,
            ),
        )
    out.print(f"entry #{entry.id}: adjustment of {hours_:+.2f} h in {wanted} ({reason})")


@app.command()
def correct(
    entry_id: Annotated[int, typer.Argument(metavar="ENTRY", help="The entry to correct (see history).")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (required).")],
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="Manual entries only: the right time spent.")
    ] = None,
    billed: Annotated[
        str | None, typer.Option("--billed", help="Billed time to use instead, e.g. 30m.")
    ] = None,
    work_type: Annotated[str | None, typer.Option("--work-type", "-w", help="The right work type.")] = None,
    ticket: Annotated[str | None, typer.Option("--ticket", help="The right ticket.")] = None,
    note: Annotated[str | None, typer.Option("--note", "-n", help="The right note.")] = None,
    engineer: Annotated[str | None, typer.Option("--engineer", help="Who corrects (default: login).")] = None,
) -> None:
    """Correct an entry: a new entry replaces it in every sum; the old one stays as it was."""
    from bxops.bookkeeping import rebill
    from bxops.ledger.entries import Billed, Correction, add_correction, billing_shares, get_entry
    from bxops.ledger.models import EntryKind
    from bxops.reports import billed_of

    settings = load_settings()
    if not reason.strip():
        raise BxopsError("a correction needs a reason")
    with opened_ledger(settings) as ledger:
        original = get_entry(ledger, entry_id)
        contract = find_client(settings.inventories_dir, original.client).contract()
        term = contract.term_for(Month.from_key(original.month))
        term.require_work_type(work_type, original.client)
        raw_seconds: int | None = None
        billed_seconds = parse_duration(billed) if billed is not None else None
        if duration is not None:
            if original.kind != EntryKind.MANUAL.value:
                raise BxopsError("the raw time of a run or adjustment never changes; use --billed")
            raw_seconds = parse_duration(duration)
        if all(value is None for value in (raw_seconds, billed_seconds, work_type, ticket, note)):
            raise BxopsError("nothing to correct: give --duration, --billed, --work-type, --ticket or --note")
        billing: Billed | None = None
        if billed_seconds is None and (
            raw_seconds is not None
            or (original.billing_group is not None and (work_type is not None or ticket is not None))
        ):
            billing = rebill(
                contract,
                original,
                original.raw_seconds if raw_seconds is None else raw_seconds,
                work_type if work_type is not None else original.work_type,
                ticket if ticket is not None else original.ticket,
            )
        entry = add_correction(
            ledger,
            entry_id,
            Correction(
                reason=reason,
                engineer=engineer or settings.engineer,
                work_type=work_type,
                ticket=ticket,
                note=note,
                raw_seconds=raw_seconds,
                billed_seconds=billed_seconds,
                billing=billing,
            ),
        )
        share = billing_shares(ledger, entry.client, [entry]).get(entry.id)
    out.print(f"entry #{entry.id} corrects #{entry_id}: billed {hours(billed_of(entry, share))} ({reason})")


@app.command("history")
def show_history(
    client: Annotated[str | None, typer.Argument(help="Only this client.")] = None,
    month: Annotated[str | None, typer.Option("--month", "-m", help="YYYY-MM.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this day on, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this day, YYYY-MM-DD.")] = None,
    work_type: Annotated[str | None, typer.Option("--work-type", "-w", help="Only this work type.")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", "-s", help="Only these statuses; repeatable.")
    ] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", "-k", help="run, manual or adjustment.")] = None,
    playbook: Annotated[str | None, typer.Option("--playbook", "-p", help="Only this playbook.")] = None,
    environment: Annotated[str | None, typer.Option("--env", help="staging or production.")] = None,
    ticket: Annotated[str | None, typer.Option("--ticket", help="Only this ticket.")] = None,
    engineer: Annotated[str | None, typer.Option("--engineer", help="Only this engineer.")] = None,
    include_corrected: Annotated[
        bool, typer.Option("--all", help="Also entries replaced by corrections.")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List ledger entries, newest first."""
    from bxops.ledger.entries import HistoryFilter, all_billing_shares, history
    from bxops.ledger.models import EntryKind, EntryStatus
    from bxops.reports import entry_to_dict, print_history, to_json

    settings = load_settings()
    for value, allowed in (
        (status or [], [s.value for s in EntryStatus]),
        (kind or [], [k.value for k in EntryKind]),
    ):
        for item in value:
            if item not in allowed:
                raise BxopsError(f"unknown value {item!r} (expected one of: {', '.join(allowed)})")
    since_day, until_day = _parse_day(since), _parse_day(until)
    wanted = HistoryFilter(
        client=client,
        month=Month.parse(month) if month else None,
        since=datetime.combine(since_day, time(0), tzinfo=UTC) if since_day else None,
        until=datetime.combine(until_day, time(0), tzinfo=UTC) if until_day else None,
        work_type=work_type,
        statuses=status or [],
        kinds=kind or [],
        playbook=playbook,
        environment=environment,
        ticket=ticket,
        engineer=engineer,
        include_corrected=include_corrected,
        limit=limit,
    )
    if client is not None:
        find_client(settings.inventories_dir, client)
    with opened_ledger(settings) as ledger:
        entries = history(ledger, wanted)
        shares = all_billing_shares(ledger, entries)
    if as_json:
        out.print_json(to_json([entry_to_dict(entry, shares.get(entry.id)) for entry in entries]))
    else:
        print_history(out, entries, shares)


@app.command()
def contract(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
) -> None:
    """Validate a client's contract and show its terms."""
    settings = load_settings()
    found = find_client(settings.inventories_dir, client).contract()
    for term in found.terms:
        carry = term.carry_over
        extra = (
            f" cap {carry.cap_hours} h"
            if carry.cap_hours
            else f" {carry.months} months"
            if carry.months
            else ""
        )
        out.print(
            f"from {term.effective_from}: {term.hours_per_month:g} h/month, "
            f"billed per {term.billing_period.value}, "
            f"carry-over {carry.mode.value}{extra}, rounding {term.rounding.mode.value} to "
            f"{term.rounding.increment_minutes} min (minimum {term.rounding.minimum_minutes} min), "
            f"overage {term.overage.policy.value}"
            + (f" up to {term.overage.limit_hours:g} h" if term.overage.limit_hours is not None else "")
            + f", rounded per {term.rounding.scope.runs.value} for runs and per "
            f"{term.rounding.scope.manual.value} for manual entries"
            + (", runs refused before any change billed" if term.bill_refused_runs else "")
            + (", dry runs billed" if term.bill_dry_runs else "")
        )
        for key, label in term.work_types.items():
            roles = [role for role, work_type in term.roles.items() if work_type == key]
            out.print(f"  {key}: {label}" + (f" (roles: {', '.join(roles)})" if roles else ""))
    service = found.service
    out.print(f"time zone: {service.timezone}")
    if service.sla is not None:
        for name, terms in service.sla.priorities.items():
            out.print(
                f"  SLA {name}: response {terms.response.describe()}, resolution {terms.resolution.describe()}, "
                f"{'business hours' if terms.clock.value == 'business' else 'around the clock'}"
            )
    if service.tracker is not None:
        tracker = service.tracker
        out.print(f"tracker: {tracker.type.value} at {tracker.url} (token in ${tracker.token_env})")
    out.print(f"{found.path}: valid")


@app.command("trust-host")
def trust_host(
    client: Annotated[str, typer.Argument(help="Client: a folder under inventories/.")],
    host: Annotated[str, typer.Argument(help="The host as the client's inventory names it.")],
    fingerprint: Annotated[
        str | None,
        typer.Option("--fingerprint", help="SHA256:… you verified on the server; only that key is recorded."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask (needs --fingerprint: nothing is trusted unchecked).")
    ] = False,
    address: Annotated[
        str | None, typer.Option("--address", help="Address ssh connects to (default: ansible_host).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="SSH port (default: ansible_port or 22).")] = None,
) -> None:
    """Record a new server's SSH host key in the client's known_hosts, after showing its fingerprint.

    Every run checks host keys against inventories/<client>/known_hosts only: a host missing there, or
    one whose key changed, is refused. Compare the fingerprint shown with the server's own (on its
    console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) before you confirm.
    """
    from bxops.hostkeys import compare, find_ssh_target, known_hosts_path, parse_known_hosts, record, scan

    settings = load_settings()
    found = find_client(settings.inventories_dir, client)
    target = find_ssh_target(found.inventory(), host, address, port)
    known_hosts = known_hosts_path(found.folder)
    offered = scan(target)
    recorded = parse_known_hosts(known_hosts.read_text(encoding="utf-8")) if known_hosts.exists() else []
    for key in offered:
        out.print(f"{host} ({target.name}) offers {key.key_type} {key.fingerprint}", markup=False, highlight=False)
    result = compare(offered, recorded)
    if result.changed:
        old, new = result.changed[0]
        raise BxopsError(
            f"host key of {host} ({target.name}) has CHANGED: {known_hosts} has {old.key_type} "
            f"{old.fingerprint}, the host now offers {new.key_type} {new.fingerprint}; nothing recorded. "
            f"If the server was reinstalled and you verified the new key on it, remove the old entry "
            f"(ssh-keygen -R '{target.name}' -f {known_hosts}) and run trust-host again"
        )
    if result.known:
        out.print(f"{host} ({target.name}): already trusted in {known_hosts}", markup=False, highlight=False)
        return
    if fingerprint is not None:
        wanted = fingerprint if fingerprint.startswith("SHA256:") else f"SHA256:{fingerprint}"
        chosen = [key for key in offered if key.fingerprint == wanted]
        if not chosen:
            offers = ", ".join(f"{key.key_type} {key.fingerprint}" for key in offered)
            raise BxopsError(
                f"{host} ({target.name}) offers no key with fingerprint {wanted} (it offers: {offers}); "
                "nothing recorded: this may not be your server"
            )
    elif yes:
        raise BxopsError(
            "--yes needs --fingerprint SHA256:…: a host key is trusted only once its fingerprint was compared"
        )
    else:
        chosen = offered
    if not yes:
        if not sys.stdin.isatty():
            raise BxopsError(
                "compare the fingerprint with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub "
                "on its console), then run again with --yes --fingerprint SHA256:…"
            )
        answer = typer.prompt(f"Trust {len(chosen)} key(s) shown for {host}? Type yes", default="no")
        if answer.strip().lower() != "yes":
            raise BxopsError("nothing recorded")
    record(known_hosts, chosen)
    for key in chosen:
        out.print(
            f"recorded {host} ({target.name}) {key.key_type} {key.fingerprint} in {known_hosts}",
            markup=False,
            highlight=False,
        )


# The monthly report, the SLA's commands (`incident …`, `sla`), `serve` and the tracker sync register
# themselves on `app`.
import bxops.monthly.cli  # noqa: E402
import bxops.projectdocs.cli  # noqa: E402
import bxops.serve.cli  # noqa: E402
import bxops.sla.cli  # noqa: E402
import bxops.trackers.cli  # noqa: E402, F401


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err.print(f"bxops: error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


#: Set by main() while a command starts up, when this process is that command: see _start_up_done().
_gc_deferred = False


def _start_up_done() -> None:
    """Start-up (imports above all) allocates much and frees little, so main() defers garbage collection
    meanwhile. Freeze what start-up made, so that no later collection walks it again (nor the
    interpreter's last one at exit), and collect from now on."""
    global _gc_deferred
    if _gc_deferred:
        _gc_deferred = False
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: bad input gives one line on stderr and a non-zero exit."""
    global _gc_deferred
    if argv is None and gc.isenabled():  # this process is the command (called from Python, argv is given)
        gc.disable()
        _gc_deferred = True
    try:  # typer handles usage errors, --help and typer.Exit itself (standalone mode)
        app(args=argv, prog_name=Path(sys.argv[0]).name if argv is None else "bxops")
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except RunRefused as error:
        _fail(str(error), EXIT_REFUSED)
    except BxopsError as error:
        _fail(str(error))
    except Exception as error:
        if not _is_database_error(error):
            raise
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        _fail(f"ledger database error: {reason[0] if reason else type(error).__name__}")
    finally:
        _start_up_done()


def _is_database_error(error: Exception) -> bool:
    """SQLAlchemy's errors, without importing SQLAlchemy: no command that failed before importing it
    can have raised one."""
    exceptions = sys.modules.get("sqlalchemy.exc")
    return exceptions is not None and isinstance(error, exceptions.SQLAlchemyError)
