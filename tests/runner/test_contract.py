"""Contract validation: every field gives one clear line naming the file and the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bxops.cli import main
from bxops.contract import load_contract, parse_contract
from bxops.errors import ContractError

from .conftest import BASE_TERM, Workspace, base_contract


def with_term(**changes: Any) -> dict[str, Any]:
    term = copy.deepcopy(BASE_TERM)
    for key, value in changes.items():
        if value is ...:
            term.pop(key)
        else:
            term[key] = value
    return {"terms": [term]}


CASES = [
    (with_term(hours_per_month=-1), "terms[0].hours_per_month: Input should be greater than or equal to 0"),
    (with_term(hours_per_month="lots"), "terms[0].hours_per_month: Input should be a valid number"),
    (with_term(hours_per_month=...), "terms[0].hours_per_month: Field required"),
    (with_term(billing_period="year"), "terms[0].billing_period: Input should be 'month' or 'quarter'"),
    (with_term(carry_over={"mode": "forever"}), "terms[0].carry_over.mode: Input should be"),
    (with_term(carry_over={"mode": "capped"}), "terms[0].carry_over: mode 'capped' needs cap_hours"),
    (with_term(carry_over={"mode": "capped", "cap_hours": -3}), "terms[0].carry_over.cap_hours"),
    (with_term(carry_over={"mode": "expiring", "months": 0}), "terms[0].carry_over.months"),
    (with_term(carry_over={"mode": "none", "months": 2}), "months only goes with mode 'expiring'"),
    (
        with_term(rounding={"increment_minutes": 15, "mode": "sideways"}),
        "terms[0].rounding.mode: Input should be",
    ),
    (with_term(rounding={"increment_minutes": 0, "mode": "up"}), "terms[0].rounding.increment_minutes"),
    (
        with_term(rounding={"increment_minutes": 15, "mode": "up", "minimum_minutes": -5}),
        "terms[0].rounding.minimum_minutes",
    ),
    (with_term(overage={"policy": "maybe"}), "terms[0].overage.policy: Input should be"),
    (with_term(overage={"policy": "allow"}), "terms[0].overage: policy 'allow' needs limit_hours"),
    (with_term(overage={"policy": "refuse", "limit_hours": 2}), "limit_hours only goes with policy 'allow'"),
    (with_term(work_types={}), "terms[0].work_types: at least one work type is needed"),
    (with_term(work_types={"Bug Fixes": "x"}), "work type id 'Bug Fixes'"),
    (with_term(roles={"deploy": "maintenance"}), "terms[0].roles: unknown role 'deploy'"),
    (with_term(roles={"audit": "gardening"}), "roles.audit: unknown work type 'gardening'"),
    (with_term(playbooks={"audit": "gardening"}), "playbooks.audit: unknown work type 'gardening'"),
    (with_term(default_work_type="gardening"), "default_work_type: unknown work type 'gardening'"),
    (with_term(effective_from="2026-01-15"), "terms[0].effective_from: must be the first day of a month"),
    (with_term(effective_from="someday"), "terms[0].effective_from: Input should be a valid date"),
    (with_term(effective_from="2026-02-01"), "effective_from must start a quarter"),
    (with_term(hours_per_week=5), "terms[0].hours_per_week: Extra inputs are not permitted"),
    ({"terms": []}, "terms: List should have at least 1 item"),
    ({"term": []}, "terms: Field required"),
    ([1, 2], "expected a mapping with 'terms'"),
    ({"terms": [BASE_TERM, {"hours_per_month": 30}]}, "terms[1].effective_from: Field required"),
    (
        {"terms": [BASE_TERM, {"effective_from": "2025-01-01"}]},
        "terms[1].effective_from: must come after 2026-01-01",
    ),
    (
        {"terms": [BASE_TERM, {"effective_from": "2026-04-01", "hours_per_month": -2}]},
        "terms[1].hours_per_month",
    ),
    ({"client": "someone-else", "terms": [BASE_TERM]}, "client: says 'someone-else' but the folder is 't1'"),
]


@pytest.mark.parametrize(("data", "expected"), CASES, ids=[c[1][:50] for c in CASES])
def test_field_errors(data: object, expected: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_contract("t1", Path("inventories/t1/contract.yml"), data)
    message = str(caught.value)
    assert message.startswith("inventories/t1/contract.yml: ")
    assert expected in message
    assert "\n" not in message


def test_valid_contract_and_inheritance() -> None:
    data = {"terms": [BASE_TERM, {"effective_from": "2026-07-01", "overage": {"policy": "refuse"}}]}
    contract = parse_contract("t1", Path("c.yml"), data)
    assert [t.overage.policy.value for t in contract.terms] == ["warn", "refuse"]
    assert contract.terms[1].hours_per_month == 20


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="has no contract"):
        load_contract("t1", tmp_path / "contract.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("terms: [\n  - {")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract("t1", broken)


def test_demo_and_template_contracts_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "inventories"
    demo = load_contract("demo", root / "demo" / "contract.yml")
    term = demo.terms[0]
    assert term.hours_per_month == 20 and len(term.work_types) == 5
    assert term.rounding.increment_minutes == 15 and term.rounding.mode.value == "up"
    assert term.rounding.minimum_minutes > 0 and term.overage.policy.value == "warn"
    load_contract("template", root / "template" / "contract.yml")


def test_cli_reports_one_line(cli_env: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    cli_env.write_contract(base_contract(rounding={"increment_minutes": 15, "mode": "sideways"}))
    with pytest.raises(SystemExit) as done:
        main(["balance", "t1"])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "rounding.mode: Input should be 'up', 'nearest' or 'down'" in err
    assert "Traceback" not in err
