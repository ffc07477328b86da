"""`run`: a playbook run that becomes a ledger entry — checked, estimated, written as running,
kept alive with a heartbeat, and closed as succeeded, failed or cancelled."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, fields
from types import FrameType
from typing import Any

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
    earlier_run_seconds,
    finish_run,
    get_entry,
    start_run,
)
from bxops.ledger.ids import elapsed_seconds, new_run_id, utcnow
from bxops.ledger.models import EntryStatus
from bxops.periods import Month
from bxops.playbook_events import EventRecorder
from bxops.process_tree import stop_children
from bxops.progress import LiveProgress
from bxops.redaction import redact
from bxops.reports import print_balance, print_run_summary
from bxops.settings import Settings

EXIT_CANCELLED = 130
EXIT_FAILED = 2


@dataclass(frozen=True)
class PreparedRun(Target):
    contract: Contract
    term: Term


def _check_work_type(client: str, term: Term, work_type: str | None) -> None:
    if work_type is not None and work_type not in term.work_types:
        known = ", ".join(term.work_types)
        raise BxopsError(f"unknown work type {work_type!r} for {client} (known: {known})")


def prepare(settings: Settings, request: RunRequest, located: Target | None = None) -> PreparedRun:
    """Every check that needs no ledger; raises BxopsError on the first problem.

    `located`: what `launch.locate` already found for the early start (its checks passed); else they run
    here first. The contract's checks follow.
    """
    target = located if located is not None else locate(settings, request)
    contract = target.client.contract()
    term = contract.term_for(Month.current())
    _check_work_type(target.client.name, term, request.work_type)
    return PreparedRun(**{f.name: getattr(target, f.name) for f in fields(Target)}, contract=contract, term=term)


def decide_work_type(
    term: Term, playbook: str, flag: str | None, role_seconds: dict[str, float]
) -> tuple[str | None, str]:
    """The work type and where it came from: flag, playbook map, the longest mapped role, default."""
    if flag is not None:
        return flag, "flag"
    if playbook in term.playbooks:
        return term.playbooks[playbook], f"playbook:{playbook}"
    for role, _seconds in sorted(role_seconds.items(), key=lambda item: -item[1]):
        work_type = term.work_type_for_role(role)
        if work_type is not None:
            return work_type, f"role:{role}"
    if term.default_work_type is not None:
        return term.default_work_type, "default"
    return None, "none"


class Heartbeat:
    """Writes the run's heartbeat every `interval` seconds from a thread of its own."""

    def __init__(self, ledger: Ledger, entry_id: int, interval: float) -> None:
        self._ledger, self._entry_id, self._interval = ledger, entry_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bxops-heartbeat", daemon=True)
        self.failures = 0

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                beat(self._ledger, self._entry_id)
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


def _status(job_status: str, cancelled: bool, rc: int | None) -> EntryStatus:
    if cancelled or job_status == "canceled":
        return EntryStatus.CANCELLED
    if job_status == "successful" and rc == 0:
        return EntryStatus.SUCCEEDED
    return EntryStatus.FAILED


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
    estimate = estimate_cost(
        earlier_run_seconds(ledger, prepared.client.name, prepared.playbook, prepared.environment), rounding
    )
    balance = client_balance(ledger, contract, Month.current())
    decision = decide_overage(balance, estimate)
    if decision.refused and not request.allow_overage:
        raise RunRefused(f"run refused: {decision.message}; pass --allow-overage to run anyway (recorded)")
    if decision.message:
        err.print(
            f"[yellow]warning:[/] {decision.message}" + (" (override recorded)" if decision.refused else "")
        )

    if early is not None:
        started_at, run_id = early.started_at, early.run_id
    else:
        started_at = utcnow()
        run_id = new_run_id(started_at)
    artifacts_root = settings.artifacts_dir / prepared.client.name
    options: dict[str, Any] = {
        "tags": request.tags,
        "skip_tags": request.skip_tags,
        "limit": prepared.limit,
        "check": request.check,
        "diff": request.diff,
        "extra_vars": redact(prepared.extravars),
        "vault_password_file": str(request.vault_password_file) if request.vault_password_file else None,
        "estimate_runs": estimate.earlier_runs,
        "expected_overage_seconds": decision.expected_overage_seconds,
    }
    entry = start_run(
        ledger,
        NewRun(
            client=prepared.client.name,
            environment=prepared.environment,
            playbook=prepared.playbook,
            engineer=request.engineer,
            ticket=request.ticket,
            note=request.note,
            work_type=request.work_type,
            options=options,
            artifacts_dir=str(artifacts_root / run_id),
            estimate_seconds=estimate.billed_seconds,
            overage_override=decision.refused and request.allow_overage,
            heartbeat_interval=settings.heartbeat_seconds,
            run_id=run_id,
            started_at=started_at,
        ),
    )
    err.print(
        f"run #{entry.id} {prepared.client.name} {prepared.playbook} @{prepared.environment} "
        f"(estimate {hours(estimate.billed_seconds)}, {hours(balance.remaining_seconds)} remaining)"
    )
    recorder = early.recorder if early is not None else EventRecorder()
    title = f"{prepared.client.name} · {prepared.playbook} @{prepared.environment}"
    job_status, rc = "failed", None
    with (
        CancelOnSignal(err) as cancel,
        Heartbeat(ledger, entry.id, settings.heartbeat_seconds),
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
        except BxopsError as error:
            err.print(f"[red]error:[/] {error}")
    ended = utcnow()
    recorder.finish(ended)
    status = _status(job_status, cancel.requested.is_set(), rc)
    raw = elapsed_seconds(entry.started_at, ended)
    billed, term_date = bill(contract, entry.started_at, raw)
    role_seconds = recorder.role_seconds()
    work_type, source = decide_work_type(term, prepared.playbook, request.work_type, role_seconds)
    finish_run(
        ledger,
        entry.id,
        RunOutcome(
            status=status,
            ended_at=ended,
            raw_seconds=raw,
            billed_seconds=billed,
            contract_term=term_date,
            return_code=rc,
            work_type=work_type,
            hosts=recorder.hosts(),
            host_stats=recorder.host_stats(),
            play_seconds=recorder.play_seconds(),
            role_seconds=role_seconds,
            changed=recorder.changed(),
            audit_data=redact(recorder.set_stats()),
            options={**options, "work_type_source": source},
        ),
    )
    final = get_entry(ledger, entry.id)
    print_run_summary(out, final)
    if work_type is None:
        err.print(
            "[yellow]warning:[/] no work type: pass --work-type or map the playbook's role in the contract"
        )
    print_balance(out, client_balance(ledger, contract, Month.of(entry.started_at)))
    if status is EntryStatus.SUCCEEDED:
        return 0
    if status is EntryStatus.CANCELLED:
        return EXIT_CANCELLED
    return rc if rc not in (None, 0) else EXIT_FAILED
