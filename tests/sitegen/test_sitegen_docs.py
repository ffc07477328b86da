"""truth.json `docs` (issue 16's living docs) checked against what the generator really wrote, with code of the
test's own: each secret is really in the site's DB dump (so a report without it proves something), each custom
code folder's files, bytes and newest modification time, and the same seed gives the same truth."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_sitegen import generate


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("docs-truth")
    return base, generate(base, "--seed", "17")


def test_every_planted_secret_is_really_in_the_db_dump(site) -> None:
    base, truth = site
    sql = (base / "sitemanager.sql").read_text(encoding="utf-8")
    secrets = truth["docs"]["secrets"]
    assert len(secrets) >= 10 and all(len(s) >= 14 for s in secrets)
    assert [s for s in secrets if s not in sql] == []
    # the tables the docs read exist in the dump, each with the planted rows
    integrations = truth["docs"]["integrations"]
    for table, planted in (("b_sale_pay_system_action", integrations["payment_systems"]),
                           ("b_sale_delivery_srv", integrations["delivery_services"]),
                           ("b_rest_app", integrations["rest_apps"]), ("b_rest_ap", integrations["webhooks_in"]),
                           ("b_rest_event", integrations["webhooks_out"])):
        assert f"CREATE TABLE {table} (" in sql and f"INSERT INTO {table} (" in sql
        assert len(planted) >= 2


@pytest.mark.parametrize("kind", ["modules", "components", "templates", "overrides"])
def test_custom_code_sizes_and_times_are_what_is_on_disk(site, kind: str) -> None:
    base, truth = site
    entries = truth["docs"]["components"][kind]
    assert entries
    for entry in entries:
        files, size, newest = 0, 0, 0.0
        for dirpath, _dirs, names in os.walk(base / "www" / entry["path"]):
            for name in names:
                st = os.lstat(os.path.join(dirpath, name))
                files, size, newest = files + 1, size + st.st_size, max(newest, st.st_mtime)
        assert (entry["files"], entry["bytes"]) == (files, size), entry["path"]
        assert entry["last_change"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest)), entry["path"]


def test_expected_kinds_by_hand(site) -> None:
    _base, truth = site
    code = truth["docs"]["components"]
    assert [e["path"] for e in code["modules"]] == ["bitrix/modules/acme.delivery", "bitrix/modules/oldvendor.slider",
                                                   "local/modules/acme.tools", "local/modules/subscribe"]
    assert [e["name"] for e in code["components"]] == ["acme:catalog.filter", "acme:order.form", "acme:promo.banner"]
    assert [e["name"] for e in code["templates"]] == ["shop_2016", "main"]  # bitrix/templates/.default is the core's
    assert [(e["name"], e["template"]) for e in code["overrides"]] == [
        ("bitrix:news.list", ".default"), ("bitrix:catalog.section", ".default"), ("bitrix:menu", "top")]
    assert truth["docs"]["integrations"]["marketplace_modules"] == ["acme.delivery", "acme.tools", "oldvendor.slider"]
    assert truth["agents"]["count"] == 15  # the generator's 12 and the site's own 3


def test_same_seed_same_docs_truth(site, tmp_path: Path) -> None:
    _base, truth = site
    again = generate(tmp_path, "--seed", "17")
    assert again["docs"] == truth["docs"]
