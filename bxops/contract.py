"""Client contracts: `inventories/<client>/contract.yml`, validated, with terms that apply from a date.

A contract file holds a list of terms. The first term states every field; each later term states what
changes and applies from its `effective_from` (the first day of a billing period) on. Runs are billed
under the term in force when they started, so history stays as billed then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bxops.errors import BxopsError, ContractError
from bxops.periods import BillingPeriod, Month
from bxops.rounding import RoundingMode, RoundingPolicy, RoundingScope
from bxops.sla.terms import ServiceTerms

#: Roles of the collection whose runs the contract maps to work types.
KNOWN_ROLES = ("audit", "backup", "update", "cleanup", "permissions", "certificates", "php_upgrade")

_WORK_TYPE_ID = re.compile(r"^[a-z][a-z0-9_-]*$")
HOUR = 3600


class CarryOverMode(StrEnum):
    NONE = "none"
    WITHIN_PERIOD = "within_period"
    CAPPED = "capped"
    EXPIRING = "expiring"


class OveragePolicy(StrEnum):
    REFUSE = "refuse"
    WARN = "warn"
    ALLOW = "allow"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CarryOver(_Strict):
    mode: CarryOverMode
    cap_hours: Annotated[float, Field(gt=0)] | None = None
    months: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _mode_arguments(self) -> CarryOver:
        if self.mode is CarryOverMode.CAPPED and self.cap_hours is None:
            raise ValueError("mode 'capped' needs cap_hours")
        if self.mode is CarryOverMode.EXPIRING and self.months is None:
            raise ValueError("mode 'expiring' needs months")
        if self.mode is not CarryOverMode.CAPPED and self.cap_hours is not None:
            raise ValueError(f"cap_hours only goes with mode 'capped', not {self.mode.value!r}")
        if self.mode is not CarryOverMode.EXPIRING and self.months is not None:
            raise ValueError(f"months only goes with mode 'expiring', not {self.mode.value!r}")
        return self


_SCOPES = ", ".join(scope.value for scope in RoundingScope)


class ScopeByKind(_Strict):
    """Over which unit time is rounded, for the runner's runs and for manual entries (`log`)."""

    runs: RoundingScope = RoundingScope.ENTRY
    manual: RoundingScope = RoundingScope.ENTRY


class Rounding(_Strict):
    increment_minutes: Annotated[int, Field(gt=0, le=24 * 60)]
    mode: RoundingMode
    minimum_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0
    #: `entry` (default), `ticket`, `day`, `month`, or `{runs: …, manual: …}` for each kind apart.
    scope: ScopeByKind = Field(default_factory=ScopeByKind)

    @field_validator("scope", mode="before")
    @classmethod
    def _one_scope_for_both(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in {scope.value for scope in RoundingScope}:
                raise ValueError(f"must be one of {_SCOPES}, or a mapping {{runs: …, manual: …}} (got {value!r})")
            return {"runs": value, "manual": value}
        if value is not None and not isinstance(value, dict | ScopeByKind):
            raise ValueError(f"must be one of {_SCOPES}, or a mapping {{runs: …, manual: …}} (got {value!r})")
        return value

    def policy(self) -> RoundingPolicy:
        return RoundingPolicy(self.increment_minutes * 60, self.mode, self.minimum_minutes * 60)

    def scope_for(self, kind: str) -> RoundingScope:
        """The scope of a `run` or of a `manual` entry."""
        return self.scope.runs if kind == "run" else self.scope.manual


class Overage(_Strict):
    policy: OveragePolicy
    limit_hours: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _limit(self) -> Overage:
        if self.policy is OveragePolicy.ALLOW and self.limit_hours is None:
            raise ValueError("policy 'allow' needs limit_hours")
        if self.policy is not OveragePolicy.ALLOW and self.limit_hours is not None:
            raise ValueError(f"limit_hours only goes with policy 'allow', not {self.policy.value!r}")
        return self


class Term(_Strict):
    """The contract as in force from `effective_from` on."""

    effective_from: date
    hours_per_month: Annotated[float, Field(ge=0, le=744)]
    billing_period: BillingPeriod
    carry_over: CarryOver
    rounding: Rounding
    overage: Overage
    work_types: dict[str, Annotated[str, Field(min_length=1)]]
    roles: dict[str, str] = Field(default_factory=dict)
    playbooks: dict[str, str] = Field(default_factory=dict)
    default_work_type: str | None = None
    #: The month as the contract expects it, hours per work type (e.g. maintenance 8, enhancements 12):
    #: the monthly report draws the month against it.
    expected_hours: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    #: Bill a run that a pre-change check refused (nothing changed on any host) like any other run;
    #: by default such a run is recorded as `refused` and billed nothing.
    bill_refused_runs: bool = False
    #: Bill a dry run (`run … --check`: Ansible's check mode, nothing changed) like any other run; by
    #: default such a run is recorded as `dry_run` and billed nothing.
    bill_dry_runs: bool = False

    @field_validator("effective_from")
    @classmethod
    def _first_of_month(cls, value: date) -> date:
        if value.day != 1:
            raise ValueError(f"must be the first day of a month, got {value.isoformat()}")
        return value

    @field_validator("work_types")
    @classmethod
    def _work_type_ids(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("at least one work type is needed")
        for key in value:
            if not _WORK_TYPE_ID.match(key):
                raise ValueError(f"work type id {key!r} must be lowercase letters, digits, '_' or '-'")
        return value

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for role in value:
            if role not in KNOWN_ROLES:
                raise ValueError(f"unknown role {role!r} (known: {', '.join(KNOWN_ROLES)})")
        return value

    @model_validator(mode="after")
    def _references(self) -> Term:
        if self.billing_period is BillingPeriod.QUARTER and self.effective_from.month % 3 != 1:
            raise ValueError("with billing_period 'quarter', effective_from must start a quarter")
        for where, mapping in (("roles", self.roles), ("playbooks", self.playbooks)):
            for name, work_type in mapping.items():
                if work_type not in self.work_types:
                    raise ValueError(f"{where}.{name}: unknown work type {work_type!r}")
        for work_type in self.expected_hours:
            if work_type not in self.work_types:
                raise ValueError(f"expected_hours.{work_type}: unknown work type {work_type!r}")
        if self.default_work_type is not None and self.default_work_type not in self.work_types:
            raise ValueError(f"default_work_type: unknown work type {self.default_work_type!r}")
        return self

    # derived values -------------------------------------------------------------------------
    @property
    def allotment_seconds(self) -> int:
        return round(self.hours_per_month * HOUR)

    @property
    def overage_limit_seconds(self) -> int | None:
        if self.overage.policy is OveragePolicy.ALLOW and self.overage.limit_hours is not None:
            return round(self.overage.limit_hours * HOUR)
        return None

    @property
    def first_month(self) -> Month:
        return Month.of(self.effective_from)

    def work_type_for_role(self, role: str) -> str | None:
        return self.roles.get(role)

    def require_work_type(self, work_type: str | None, client: str) -> None:
        """A work type given on the command line must be one of this term's (None: not given)."""
        if work_type is not None and work_type not in self.work_types:
            raise BxopsError(f"unknown work type {work_type!r} for {client} (known: {', '.join(self.work_types)})")


class _ContractFile(_Strict):
    client: str | None = None
    terms: Annotated[list[dict[str, Any]], Field(min_length=1)]
    #: The client's IANA time zone, SLA terms and tracker (bxops.sla.terms): the same for every term.
    timezone: Any = None
    sla: Any = None
    tracker: Any = None


@dataclass(frozen=True)
class Contract:
    client: str
    path: Path
    terms: tuple[Term, ...]
    service: ServiceTerms = field(default_factory=ServiceTerms)

    @property
    def zone(self) -> ZoneInfo:
        """The client's time zone: months, days and business hours are drawn in it."""
        return self.service.zone

    def month_of(self, moment: datetime) -> Month:
        """The month an instant belongs to in the client's time zone."""
        return Month.of(moment.astimezone(self.zone).replace(tzinfo=None))

    @property
    def first_month(self) -> Month:
        return self.terms[0].first_month

    def term_for(self, month: Month) -> Term:
        """The term in force in a month; before the first term there is no contract."""
        chosen: Term | None = None
        for term in self.terms:
            if term.first_month <= month:
                chosen = term
        if chosen is None:
            raise ContractError(f"{self.path}: no contract term in force in {month} (first from {self.first_month})")
        return chosen


def _format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _one_line(error: ValidationError, prefix: str = "") -> str:
    first = error.errors(include_url=False)[0]
    location = _format_location(tuple(first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "enum":
        message = f"{message} (got {first.get('input')!r})"
    where = ".".join(part for part in (prefix, location) if part)
    return f"{where}: {message}" if where else message


def parse_contract(client: str, path: Path, data: object) -> Contract:
    """Validate parsed YAML; raise ContractError with one line naming the file and the field."""
    if not isinstance(data, dict):
        raise ContractError(f"{path}: expected a mapping with 'terms', got {type(data).__name__}")
    try:
        document = _ContractFile.model_validate(data)
    except ValidationError as error:
        raise ContractError(f"{path}: {_one_line(error)}") from None
    if document.client is not None and document.client != client:
        raise ContractError(f"{path}: client: says {document.client!r} but the folder is {client!r}")
    given = {key: value for key in ("timezone", "sla", "tracker") if (value := getattr(document, key)) is not None}
    try:
        service = ServiceTerms.model_validate(given)
    except ValidationError as error:
        raise ContractError(f"{path}: {_one_line(error)}") from None
    terms: list[Term] = []
    merged: dict[str, Any] = {}
    for number, raw in enumerate(document.terms):
        if not isinstance(raw, dict):
            raise ContractError(f"{path}: terms[{number}]: expected a mapping")
        if "effective_from" not in raw:
            raise ContractError(f"{path}: terms[{number}].effective_from: Field required")
        merged = {**merged, **raw}
        try:
            term = Term.model_validate(merged)
        except ValidationError as error:
            raise ContractError(f"{path}: {_one_line(error, f'terms[{number}]')}") from None
        if terms and term.effective_from <= terms[-1].effective_from:
            raise ContractError(f"{path}: terms[{number}].effective_from: must come after {terms[-1].effective_from}")
        terms.append(term)
    return Contract(client=client, path=path, terms=tuple(terms), service=service)


def load_contract(client: str, path: Path) -> Contract:
    if not path.is_file():
        raise ContractError(f"client {client!r} has no contract: {path} is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ContractError(f"{path}:{where} not valid YAML") from None
    except OSError as error:
        raise ContractError(f"{path}: cannot read: {error.strerror}") from None
    return parse_contract(client, path, data)
