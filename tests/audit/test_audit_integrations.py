"""bitrix_audit's integrations and components (schema bxops.audit/2) on a generated site: exactly what the
generator planted (truth.json `docs`), and none of the planted secrets anywhere in what it returns."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import conftest  # noqa: F401  (import path)
import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_integrations as bi
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import find_modules
from sqlfile_db import SqlFileDb

PROJECT = Path(__file__).resolve().parents[2]
NOW = 1_760_000_000


def generate(base: Path, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(PROJECT / "tools/sitegen"), PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(
        [sys.executable, "-m", "bxsitegen", "--docroot", str(base / "www"), "--truth", str(base / "truth.json"),
         "--db-mode", "sqlfile", "--no-system-files", "--packages-dir", str(base / "updates"),
         "--site-user", "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
         "--now", str(NOW), "--force", *args],
        check=True, env=env, capture_output=True,
    )
    return json.loads((base / "truth.json").read_text())


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("integrations")
    return base, generate(base, "--seed", "23", "--monitoring-shapes")


@pytest.fixture(scope="module")
def found(generated: tuple[Path, dict]) -> dict:
    base, truth = generated
    db = SqlFileDb(base / f"{truth['db']['name']}.sql")
    www = str(base / "www")
    return {"integrations": bi.collect_integrations(www, db.rows, find_modules(www), [str(base / "cron")],
                                                    truth["site_user"]),
            "components": bi.collect_components(www)}


SECTIONS = ["payment_systems", "delivery_services", "rest_apps", "webhooks_in", "webhooks_out", "marketplace_modules",
            "cloud_buckets", "agents", "cron_jobs"]


@pytest.mark.parametrize("section", SECTIONS)
def test_each_integration_list_is_exactly_what_was_planted(generated, found, section: str) -> None:
    _base, truth = generated
    assert found["integrations"][section] == truth["docs"]["integrations"][section]


def test_1c_exchange_page_options_and_last_exchange(generated, found) -> None:
    _base, truth = generated
    got = found["integrations"]["exchange_1c"]
    planted = truth["docs"]["integrations"]["exchange_1c"]
    assert got["url"] == planted["url"] == "/bitrix/admin/1c_exchange.php"
    assert got["options"] == planted["options"]
    # the monitoring shapes planted sale's exchange times: the last one 1C confirmed, the last attempt
    assert got["last_success"] == truth["monitoring"]["exchange_1c"]["last_success"]
    assert got["last_attempt"] == truth["monitoring"]["exchange_1c"]["last_attempt"]


def test_smtp_is_enabled_in_the_settings_and_the_sender_named_without_its_password(generated, found) -> None:
    _base, truth = generated
    got = found["integrations"]["smtp"]
    planted = truth["docs"]["integrations"]["smtp"]
    assert (got["enabled"], got["settings_file"]) == (True, "bitrix/.settings_extra.php")
    assert got["senders"] == planted["senders"]


def test_no_table_was_missing(found) -> None:
    assert found["integrations"]["errors"] == []


@pytest.mark.parametrize("kind", ["modules", "components", "templates", "overrides"])
def test_the_sites_own_code_with_sizes_and_last_change(generated, found, kind: str) -> None:
    _base, truth = generated
    planted = [{k: v for k, v in e.items() if k != "id"} for e in truth["docs"]["components"][kind]]
    assert found["components"][kind] == planted


def test_no_planted_secret_is_in_the_report(generated, found) -> None:
    _base, truth = generated
    text = json.dumps(found, ensure_ascii=False)
    assert len(truth["docs"]["secrets"]) >= 10
    leaked = [s for s in truth["docs"]["secrets"] if s in text]
    assert leaked == []


def test_a_site_without_sale_or_rest_says_which_tables_are_missing(generated) -> None:
    base, truth = generated
    db = SqlFileDb(base / f"{truth['db']['name']}.sql")
    for table in ("b_sale_pay_system_action", "b_rest_app"):
        del db.tables[table]
    got = bi.collect_integrations(str(base / "www"), db.rows, {}, [], "bitrix")
    assert got["payment_systems"] == [] and got["rest_apps"] == []
    assert got["errors"] == [
        "payment systems (b_sale_pay_system_action): ERROR 1146 (42S02) at line 1: "
        "Table 'sitemanager.b_sale_pay_system_action' doesn't exist",
        "REST applications (b_rest_app): ERROR 1146 (42S02) at line 1: Table 'sitemanager.b_rest_app' doesn't exist",
    ]
    assert got["delivery_services"] == truth["docs"]["integrations"]["delivery_services"]


def test_cron_jobs_of_the_site_user_and_lines_naming_the_docroot(tmp_path: Path) -> None:
    crontabs = tmp_path / "spool" / "crontabs"
    crond = tmp_path / "cron.d"
    crontabs.mkdir(parents=True)
    crond.mkdir()
    (crontabs / "bitrix").write_text("# comment\nMAILTO=\"\"\n15 2 * * * curl -s https://u:pw1@x.test/a?k=v\n"
                                     "@daily /usr/bin/mysqldump --password=pw2 db > /tmp/x\n")
    (crontabs / "other").write_text("* * * * * echo not ours\n")
    (crond / "bx").write_text("* * * * * bitrix php -f /home/bitrix/www/bitrix/modules/main/tools/cron_events.php\n"
                              "0 1 * * * root /usr/local/bin/backup /home/bitrix/www\n0 1 * * * root apt-get update\n")
    os.symlink(tmp_path / "elsewhere", crond / "linked")
    got = bi.cron_jobs([str(crond), str(crontabs)], "bitrix", "/home/bitrix/www")
    assert got == [
        {"file": str(crond / "bx"), "schedule": "* * * * *", "user": "bitrix",
         "command": "php -f /home/bitrix/www/bitrix/modules/main/tools/cron_events.php"},
        {"file": str(crond / "bx"), "schedule": "0 1 * * *", "user": "root",
         "command": "/usr/local/bin/backup /home/bitrix/www"},
        {"file": str(crontabs / "bitrix"), "schedule": "15 2 * * *", "user": "bitrix",
         "command": "curl -s https://<redacted>@x.test/a?<redacted>"},
        {"file": str(crontabs / "bitrix"), "schedule": "@daily", "user": "bitrix",
         "command": "/usr/bin/mysqldump --password=<redacted> db > /tmp/x"},
    ]


def test_a_symlinked_custom_folder_is_never_walked(tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "local/components/acme/real/templates").mkdir(parents=True)
    (www / "local/components/acme/real/component.php").write_bytes(b"x" * 10)
    outside = tmp_path / "outside"
    (outside / "big").mkdir(parents=True)
    (outside / "big/secret.php").write_bytes(b"y" * 1000)
    (www / "local/components/acme/linked").symlink_to(outside / "big")
    (www / "local/templates").mkdir(parents=True)
    (www / "local/templates/evil").symlink_to(outside)
    got = bi.collect_components(str(www))
    assert [(c["name"], c["files"], c["bytes"]) for c in got["components"]] == [("acme:real", 1, 10)]
    assert got["templates"] == [] and got["overrides"] == []
