"""`run`: a playbook run that becomes a ledger entry — checked, estimated, written as running,
kept alive with a heartbeat, and closed as succeeded, failed or cancelled."""

from __future__ import annotations

import re
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bxops.ansible_job import AnsibleJob
from bxops.bookkeeping import bill, client_balance
from bxops.contract import Contract, Term
from bxops.durations import hours
from bxops.errors import BxopsError, RunRefused
from bxops.estimate import decide_overage, estimate_cost
from bxops.launch import EarlyStart, RunRequest, Target, job_spec, locate
from bxops.ledger.database import Ledger
from bxops.ledger.entries import (
    NewRun,
    RunOutcome,
    beat,
    billing_shares,
    earlier_run_seconds,
    finish_run,
    get_entry,
    group_state,
    record_late_outcome,
    reserved_seconds,
    start_run,
)
from bxops.ledger.ids import elapsed_seconds, new_run_id, utcnow
from bxops.ledger.models import EntryKind, EntryStatus
from bxops.periods import Month
from bxops.playbook_events import EventRecorder
from bxops.playbook_roles import playbook_roles
from bxops.process_tree import stop_children
from bxops.progress import LiveProgress
from bxops.redaction import looks_secret, redact, redact_text
from bxops.reports import print_balance, print_run_summary
from bxops.settings import Settings
from bxops.worksplit import role_split

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

EXIT_CANCELLED = 130
EXIT_FAILED = 2


@dataclass(frozen=True)
class PreparedRun(Target):
    contract: Contract
    term: Term


def prepare(settings: Settings, request: RunRequest, located: Target | None = None) -> PreparedRun:
    """Every check that needs no ledger; raises BxopsError on the first problem.

    `located`: what `launch.locate` already found for the early start (its checks passed); else they run
    here first. The contract's checks follow.
    """
    target = located if located is not None else locate(settings, request)
    contract = target.client.contract()
    term = contract.term_for(contract.month_of(utcnow()))
    term.require_work_type(request.work_type, target.client.name)
    if contract.service.tracker is not None:
        from bxops.trackers.hooks import check_token

        check_token(contract, request.ticket, request.check)
    return PreparedRun(**{f.name: getattr(target, f.name) for f in fields(Target)}, contract=contract, term=term)


def decide_work_type(
    term: Term,
    playbook: str,
    flag: str | None,
    role_seconds: dict[str, float],
    named_roles: Sequence[str] = (),
) -> tuple[str | None, str]:
    """The work type and where it came from: flag, playbook map, the longest mapped role that ran, the
    first mapped role the playbook names (known from the start: a killed run keeps it), default."""
    if flag is not None:
        return flag, "flag"
    if playbook in term.playbooks:
        return term.playbooks[playbook], f"playbook:{playbook}"
    for role, _seconds in sorted(role_seconds.items(), key=lambda item: -item[1]):
        work_type = term.work_type_for_role(role)
        if work_type is not None:
            return work_type, f"role:{role}"
    for role in named_roles:
        work_type = term.work_type_for_role(role)
        if work_type is not None:
            return work_type, f"playbook-role:{role}"
    if term.default_work_type is not None:
        return term.default_work_type, "default"
    return None, "none"


#: Actions that only check and refuse (a role's preflight); a run that failed on these alone, with
#: nothing changed on any host, was refused before any change.
CHECK_ACTIONS = frozenset(
    f"{prefix}{name}" for prefix in ("", "ansible.builtin.", "ansible.legacy.") for name in ("assert", "fail")
)
PREFLIGHT_FILE = "preflight.yml"
#: The common role's checks that refuse before a role changes anything: the environment guard, "is this
#: a Bitrix site", the staging gate, the site lock held by another run.
COMMON_CHECK_FILES = frozenset({"env_guard.yml", "site.yml", "staging_gate.yml", "lock.yml"})


def refused_before_change(
    failures: Sequence[dict[str, Any]], changed: Sequence[Any], host_stats: dict[str, dict[str, int]]
) -> bool:
    """True when the run failed only on pre-change checks (assert/fail tasks, tasks of a role's
    preflight.yml, the common role's checks) and no task changed anything on any host."""
    if not failures or changed:
        return False
    if any(int(stats.get("changed", 0) or 0) for stats in host_stats.values()):
        return False
    for failure in failures:
        if failure.get("unreachable") or failure.get("changed"):
            return False
        task_file = Path(str(failure.get("path") or "").rsplit(":", 1)[0]).name
        common_check = failure.get("role") == "common" and task_file in COMMON_CHECK_FILES
        if str(failure.get("action") or "") not in CHECK_ACTIONS and task_file != PREFLIGHT_FILE and not common_check:
            return False
    return True


#: "run again with -e name=value" in a failed task's message: an operator's decision, with its command.
_RUN_AGAIN = re.compile(r"run again with\s+((?:(?:-e|--extra-vars)\s+[A-Za-z_][A-Za-z0-9_]*=[^\s:;,'\"]+\s*)+)")


def next_commands(request: RunRequest, prepared: Target, failures: Sequence[dict[str, Any]]) -> list[str]:
    """The exact runner command that carries out what a refusal asks the operator to decide (the same
    run with the extra vars the message names), once per distinct decision."""
    commands: list[str] = []
    program = _invocation(request, prepared)[0]
    for failure in failures:
        message = str(failure.get("message") or "")
        if failure.get("unreachable") and "Host key verification failed" in message:
            if "IDENTIFICATION HAS CHANGED" in message or "has changed" in message:
                continue  # a changed key is never trusted from here: trust-host explains what to do
            # The host's key is not in the client's known_hosts yet: compare its fingerprint, then record it.
            host = str(failure.get("host") or "")
            text = " ".join(shlex.quote(part) for part in (program, "trust-host", prepared.client.name, host))
            if text not in commands:
                commands.append(text)
        for found in _RUN_AGAIN.finditer(message):
            extra = shlex.split(found.group(1))
            named = {item.partition("=")[0] for item in extra if "=" in item}
            command = [*_invocation(request, prepared, leave_out=named), *extra]
            text = " ".join(shlex.quote(part) for part in command)
            if text not in commands:
                commands.append(text)
    return commands


def _invocation(request: RunRequest, prepared: Target, leave_out: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """This run's command line again (secret-looking -e values left out: they would be printed; and the
    extra vars named in `leave_out`, which the next command sets anew)."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "runner.py" else "./runner.py"
    args = [program, "run", prepared.client.name, prepared.environment, request.playbook]
    for flag, value in (
        ("--limit", request.limit),
        ("--tags", request.tags),
        ("--skip-tags", request.skip_tags),
        ("--vault-password-file", str(request.vault_password_file) if request.vault_password_file else None),
        ("--work-type", request.work_type),
        ("--ticket", request.ticket),
    ):
        if value:
            args += [flag, value]
    if request.check:
        args.append("--check")
    for item in request.extra_vars:
        name = item.partition("=")[0]
        plain = "=" in item and name.isidentifier() and not looks_secret(name) and redact_text(item) == item
        if (plain and name not in leave_out) or item.startswith("@"):
            args += ["-e", item]
    return args


class Heartbeat:
    """Writes the run's heartbeat every `interval` seconds from a thread of its own, with the work type
    as decided from what ran so far (`work_type`), so that a killed run keeps it."""

    def __init__(
        self,
        ledger: Ledger,
        entry_id: int,
        interval: float,
        work_type: Callable[[], tuple[str | None, str]] | None = None,
    ) -> None:
        self._ledger, self._entry_id, self._interval = ledger, entry_id, interval
        self._work_type = work_type
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bxops-heartbeat", daemon=True)
        self.failures = 0

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                beat(self._ledger, self._entry_id, work_type=self._work_type() if self._work_type else None)
            except Exception:  # a busy or briefly unreachable ledger must not stop the run
                self.failures += 1

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class CancelOnSignal:
    """SIGINT (Ctrl-C) and SIGTERM ask ansible-runner to stop the run instead of killing us.

    `should_cancel` is ansible-runner's cancel_callback: once a signal came, it stops Ansible's
    process tree (interrupt first, then terminate) and answers True so that ansible-runner ends the run.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, console: Console) -> None:
        self.requested = threading.Event()
        self._console = console
        self._previous: dict[int, Any] = {}
        self._stopped = False

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if not self.requested.is_set():
            self._console.print(f"[yellow]{signal.Signals(signum).name}: stopping Ansible…[/]")
        self.requested.set()

    def should_cancel(self) -> bool:
        if not self.requested.is_set():
            return False
        if not self._stopped:
            self._stopped = True
            stop_children()
        return True

    def __enter__(self) -> CancelOnSignal:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def audit_data(aggregate: dict[str, Any], per_host: dict[str, Any],
               sites: dict[str, list[dict[str, str]]] | None = None) -> dict[str, Any]:
    """What the playbook handed over with set_stats: the aggregate data as it came, the data given per
    host under `per_host` ({host: {key: value}}); each site's outcome under `sites` ({host: [site]},
    from common's each_site loop)."""
    data = {**aggregate, "per_host": per_host} if per_host else dict(aggregate)
    if sites:
        data["sites"] = sites
    return data


def _status(job_status: str, cancelled: bool, rc: int | None) -> EntryStatus:
    if cancelled or job_status == "canceled":
        return EntryStatus.CANCELLED
    if job_status == "successful" and rc == 0:
        return EntryStatus.SUCCEEDED
    return EntryStatus.FAILED


#: playbooks after whose successful (not dry) run the client's project docs are written again (issue 16)
DOCS_PLAYBOOKS = ("audit", "maintenance")


def _regenerate_docs(settings: Settings, client: str, err: Console) -> None:
    """The audit just stored fresh reports: rewrite the client's project docs (a failure only warns)."""
    from bxops.projectdocs.regenerate import describe, regenerate

    try:
        err.print(describe(regenerate(settings, client)), markup=False, highlight=False, soft_wrap=True)
    except (BxopsError, OSError, ValueError) as error:
        err.print(f"[yellow]warning:[/] project docs not written: {error}")


def execute_run(
    settings: Settings,
    ledger: Ledger,
    request: RunRequest,
    prepared: PreparedRun,
    out: Console,
    err: Console,
    early: EarlyStart | None = None,
) -> int:
    """Estimate, write the running entry, run, close the entry; the exit code of the command.

    With `early`, Ansible was started ahead (see bxops.launch) and is held before its first task: it is
    released once the entry is written. The caller discards it if this raises before that.
    """
    contract, term = prepared.contract, prepared.term
    rounding = term.rounding.policy()
    client = prepared.client.name
    named_roles = playbook_roles(prepared.playbook_path)
    start_work_type, start_source = decide_work_type(term, prepared.playbook, request.work_type, {}, named_roles)

    if early is not None:
        started_at, run_id = early.started_at, early.run_id
    else:
        started_at = utcnow()
        run_id = new_run_id(started_at)
    artifacts_root = settings.artifacts_dir / client
    options: dict[str, Any] = {
        "tags": request.tags,
        "skip_tags": request.skip_tags,
        "limit": prepared.limit,
        "check": request.check,
        "diff": request.diff,
        "extra_vars": redact(prepared.extravars),
        "vault_password_file": str(request.vault_password_file) if request.vault_password_file else None,
        "work_type_source": start_source,
    }
    new_run = NewRun(
        client=client,
        environment=prepared.environment,
        playbook=prepared.playbook,
        engineer=request.engineer,
        ticket=request.ticket,
        note=request.note,
        work_type=start_work_type,
        options=options,
        artifacts_dir=str(artifacts_root / run_id),
        estimate_seconds=None,
        overage_override=False,
        heartbeat_interval=settings.heartbeat_seconds,
        run_id=run_id,
        started_at=started_at,
        month=contract.month_of(started_at),
    )
    checked: dict[str, Any] = {}

    def check_pool(session: Session) -> None:
        """Under the client's lock, in the transaction that writes the entry: the pool as it is, minus what
        the client's runs in progress will probably use, must cover this run's estimate."""
        month = contract.month_of(started_at)
        # billed as it will be billed at its end (bookkeeping.bill): its rounding group, if any, as it is now
        planned = bill(
            contract,
            started_at,
            0,
            kind=EntryKind.RUN.value,
            work_type=start_work_type,
            ticket=request.ticket,
            dry_run=request.check,
        )
        estimate = estimate_cost(
            earlier_run_seconds(ledger, client, prepared.playbook, prepared.environment, session=session),
            rounding,
            group=group_state(session, client, planned.group) if planned.group is not None else None,
            billed=not (request.check and not contract.term_for(contract.month_of(started_at)).bill_dry_runs),
        )
        balance = client_balance(ledger, contract, month, session)
        reserved, running = reserved_seconds(session, client, month)
        decision = decide_overage(balance, estimate, reserved, running)
        if decision.refused and not request.allow_overage:
            raise RunRefused(f"run refused: {decision.message}; pass --allow-overage to run anyway (recorded)")
        new_run.estimate_seconds = estimate.billed_seconds
        new_run.overage_override = decision.refused and request.allow_overage
        options["estimate_runs"] = estimate.earlier_runs
        options["expected_overage_seconds"] = decision.expected_overage_seconds
        checked.update(estimate=estimate, balance=balance, decision=decision)

    entry = start_run(ledger, new_run, check=check_pool)
    estimate, balance, decision = checked["estimate"], checked["balance"], checked["decision"]
    if decision.message:
        err.print(f"[yellow]warning:[/] {decision.message}" + (" (override recorded)" if decision.refused else ""))
    err.print(
        f"run #{entry.id} {client} {prepared.playbook} @{prepared.environment} "
        f"(estimate {hours(estimate.billed_seconds)}, {hours(balance.remaining_seconds)} remaining)"
    )
    if contract.service.tracker is not None and request.ticket is not None:
        from bxops.trackers.hooks import push_estimate, wants_estimate

        if wants_estimate(contract, request.ticket, request.check):
            push_estimate(contract, request.ticket, estimate.billed_seconds, err)
    recorder = early.recorder if early is not None else EventRecorder()
    title = f"{client} · {prepared.playbook} @{prepared.environment}"
    job_status, rc = "failed", None
    per_host_stats: dict[str, Any] = {}

    def work_type_so_far() -> tuple[str | None, str]:
        return decide_work_type(term, prepared.playbook, request.work_type, recorder.role_seconds(), named_roles)

    with (
        CancelOnSignal(err) as cancel,
        Heartbeat(ledger, entry.id, settings.heartbeat_seconds, work_type_so_far),
        LiveProgress(err, recorder, title) as progress,
    ):
        try:
            if early is not None:
                job = early.job
                job.release()  # the ledger has the run: Ansible may now run its tasks
            else:
                job = AnsibleJob(job_spec(settings, request, prepared, run_id), recorder)
                job.start()
            result = job.wait(should_cancel=cancel.should_cancel, on_tick=progress.refresh)
            job_status, rc = result.status, result.rc
            per_host_stats = result.per_host_stats
        except BxopsError as error:
            err.print(f"[red]error:[/] {error}")
    ended = utcnow()
    recorder.finish(ended)
    status = _status(job_status, cancel.requested.is_set(), rc)
    failures = recorder.failures()
    changed = recorder.changed()
    host_stats = recorder.host_stats()
    run_term = contract.term_for(Month.from_key(entry.month))
    if status is EntryStatus.FAILED and refused_before_change(failures, changed, host_stats):
        status = EntryStatus.REFUSED
    refused = status is EntryStatus.REFUSED
    if request.check and status in (EntryStatus.SUCCEEDED, EntryStatus.FAILED):
        # Ansible's check mode ran to its end, nothing was changed (a refusal stays `refused`; a cancelled
        # or interrupted dry run keeps that status); how it went is in its return code and failures
        status = EntryStatus.DRY_RUN
    raw = elapsed_seconds(entry.started_at, ended)
    role_seconds = recorder.role_seconds()
    work_type, source = decide_work_type(term, prepared.playbook, request.work_type, role_seconds, named_roles)
    billing = bill(
        contract,
        entry.started_at,
        raw,
        kind=EntryKind.RUN.value,
        work_type=work_type,
        ticket=request.ticket,
        dry_run=request.check,
        refused=refused,
    )
    outcome = RunOutcome(
        work_split=role_split(term, prepared.playbook, request.work_type, role_seconds, raw),
        status=status,
        ended_at=ended,
        raw_seconds=raw,
        billed_seconds=billing.billed_seconds,
        billing_group=billing.group,
        contract_term=billing.contract_term,
        return_code=rc,
        work_type=work_type,
        hosts=recorder.hosts(),
        host_stats=host_stats,
        play_seconds=recorder.play_seconds(),
        role_seconds=role_seconds,
        changed=changed,
        audit_data=redact(audit_data(recorder.set_stats(), per_host_stats, recorder.sites())),
        options={**options, "work_type_source": source},
        failures=failures,
    )
    if finish_run(ledger, entry.id, outcome):
        final = get_entry(ledger, entry.id)
    else:
        closed = get_entry(ledger, entry.id)
        final = record_late_outcome(
            ledger,
            entry.id,
            outcome,
            f"run #{entry.id} ended {status.value} after it had been recorded as {closed.status} "
            "(its heartbeat was late): its real outcome",
        )
        err.print(
            f"[magenta]note:[/] run #{entry.id} had been recorded as {closed.status} while it was still "
            f"running (its heartbeat was late); its real outcome ({status.value}) is recorded as "
            f"correction #{final.id}, which replaces #{entry.id} in every sum"
        )
    print_run_summary(out, final, billing_shares(ledger, client, [final]).get(final.id))
    if refused:
        out.print(
            "refused before any change: "
            + ("billed as the contract says (bill_refused_runs)" if run_term.bill_refused_runs else "not billed")
        )
    if request.check:
        out.print(
            "dry run (check mode, nothing changed): "
            + ("billed as the contract says (bill_dry_runs)" if run_term.bill_dry_runs else "not billed")
        )
    for command in next_commands(request, prepared, failures):
        out.print("[bold]next:[/] this needs your decision (see the message above); once decided, run:")
        out.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
    if work_type is None:
        err.print("[yellow]warning:[/] no work type: pass --work-type or map the playbook's role in the contract")
    print_balance(out, client_balance(ledger, contract, Month.from_key(entry.month)))
    if contract.service.tracker is not None and contract.service.tracker.sync_after_run and request.ticket:
        from bxops.trackers.hooks import sync_run

        sync_run(ledger, contract, entry.id, err)
    if status is EntryStatus.SUCCEEDED and prepared.playbook in DOCS_PLAYBOOKS:
        _regenerate_docs(settings, client, err)
    if status is EntryStatus.SUCCEEDED or (status is EntryStatus.DRY_RUN and rc == 0):
        return 0
    if status is EntryStatus.CANCELLED:
        return EXIT_CANCELLED
    return rc if rc not in (None, 0) else EXIT_FAILED
