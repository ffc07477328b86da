"""The project docs writer against a client written by hand (tests/fixtures/projectdocs/shop: an audit-v2 report
for production, an older v1 report for staging), its changelog diffs and idempotence, and `runner.py docs`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bxops.monthly.data import changelog_updates
from bxops.periods import Month
from bxops.projectdocs.facts import gather
from bxops.projectdocs.writer import write_docs

PROJECT = Path(__file__).resolve().parents[2]
FIXTURE = PROJECT / "tests/fixtures/projectdocs/shop"
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture()
def client(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    shutil.copytree(FIXTURE, folder)
    return folder


def write(client: Path, now: datetime = NOON):  # type: ignore[no-untyped-def]
    return write_docs(gather("shop", client, client / "hosts.yml", PROJECT / "playbooks"), client, now)


def doc(client: Path, name: str) -> list[str]:
    return (client / "docs" / name).read_text(encoding="utf-8").splitlines()


def test_readme_hosts_stack_and_where_secrets_live(client: Path) -> None:
    write(client)
    lines = doc(client, "README.md")
    assert ("| staging | shop-stage | 10.0.0.5 | stage.shop.example.ru | /home/bitrix/www | bitrix "
            "| 2026-10-01 |") in lines
    assert ("| production | shop-prod | shop.example.ru | shop.example.ru, www.shop.example.ru | /home/bitrix/www "
            "| bitrix | 2026-11-28 |") in lines  # the newest of its two reports
    assert ("| shop-prod | Debian GNU/Linux 12 (bookworm) | nginx + PHP-FPM | 8.2 | 10.11.6-MariaDB-0+deb12u1 "
            "| 24.100.300 | 2.0 GiB | 50.0 GiB |") in lines  # 2147483648 B, 53687091200 B
    assert "| shop-stage | — | nginx + PHP-FPM | 8.1 | — | 23.700.0 | 100.0 MiB | 10.0 GiB |" in lines
    assert "| `monitoring_agent_basic_auth_password` | `group_vars/all/main.yml` |" in lines
    assert "| `(encrypted vault)` | `group_vars/production/vault.yml` |" in lines
    assert "Monitor (Prometheus, Alertmanager): agency-monitor." in lines
    assert "1. `./runner.py run shop staging update` (or `maintenance`): backup, maintenance mode, the updates, " \
           "smoke test; a failure restores the backup." in lines
    everything = "".join((client / "docs" / n).read_text() for n in ("README.md", "integrations.md", "components.md"))
    assert "fixture-scrape-secret-1" not in everything


def test_integrations_per_host_and_a_v1_report_says_what_is_missing(client: Path) -> None:
    write(client)
    lines = doc(client, "integrations.md")
    assert ("Not known yet: the last audit (2026-10-01, schema bxops.audit/1) predates the integrations list; "
            "run `./runner.py run shop staging audit`.") in lines
    assert "| catalog | `1C_INTERVAL` | 30 |" in lines
    assert ("| 2 | Банковская карта | `yandexcheckout` | yes | b_sale_bizval.PROVIDER_VALUE "
            "(CONSUMER_KEY=PAYSYSTEM_2, CODE_KEY=YANDEX_CHECKOUT_SECRET_KEY) |") in lines
    assert "| 3 | СДЭК | `\\Sale\\Handlers\\Delivery\\AdditionalHandler` | yes | b_sale_delivery_srv.CONFIG (ID=3) |" \
        in lines
    assert "| 4 | Форма \\| лендинг | 1 | crm | no | b_rest_ap.PASSWORD (ID=4) |" in lines  # a pipe in a title
    assert ("| 1 | `ONSALEORDERSAVED` | `https://crm.example.com/hook?<redacted>` | 1 "
            "| b_rest_event.APPLICATION_TOKEN (ID=1) |") in lines
    assert ("| 1 | shop@example.ru | smtp.yandex.ru | 465 | smtps | shop@example.ru "
            "| b_main_mail_sender.OPTIONS (ID=1) |") in lines
    assert "| 1 | amazon_s3 | shop-media | yes | b_clouds_file_bucket.SETTINGS (ID=1) |" in lines
    assert "- `acme.delivery`" in lines


def test_components_with_sizes_and_last_change(client: Path) -> None:
    write(client)
    lines = doc(client, "components.md")
    assert "| `acme.delivery` | `bitrix/modules/acme.delivery` | 5 | 1.2 KiB | 2025-03-02T10:00:00Z |" in lines
    assert "| `main` | `local/templates/main` | 12 | 1.5 MiB | 2026-11-20T17:00:00Z |" in lines  # 1572864 B
    assert ("| `bitrix:news.list` | `.default` | `main` | `local/templates/main/components/bitrix/news.list/.default` "
            "| 1 | 900 B | 2026-06-01T12:00:00Z |") in lines


def test_second_run_changes_nothing_and_logs_nothing(client: Path) -> None:
    first = write(client)
    assert first.changed == ["README.md", "integrations.md", "components.md"]
    changelog = (client / "CHANGELOG.md").read_text()
    assert "- created docs/README.md (" in changelog
    stamps = {n: (client / "docs" / n).stat().st_mtime_ns for n in first.changed}
    second = write(client, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert second.changed == [] and second.changelog is None
    assert (client / "CHANGELOG.md").read_text() == changelog
    assert {n: (client / "docs" / n).stat().st_mtime_ns for n in first.changed} == stamps


def test_a_changed_fact_is_one_diff_in_the_changelog_and_update_rows_still_count(client: Path) -> None:
    write(client)
    report = client / "reports/shop-prod/audit-2026-11-29.json"
    text = (client / "reports/shop-prod/audit-2026-11-28.json").read_text()
    report.write_text(text.replace('"bytes": 3072, "last_change": "2026-01-15T08:30:00Z"',
                                   '"bytes": 4096, "last_change": "2026-11-29T08:30:00Z"'))
    result = write(client, datetime(2026, 11, 30, 13, 5, tzinfo=UTC))
    assert result.changed == ["README.md", "components.md"]  # README: the last audit's date
    changelog = (client / "CHANGELOG.md").read_text()
    entry = changelog.split("### 2026-11-30 13:05 UTC · project docs changed: README.md, components.md\n", 1)[1]
    row = "| `acme:promo.banner` | `local/components/acme/promo.banner` | 2 | {} |\n"
    assert "-" + row.format("3.0 KiB | 2026-01-15T08:30:00Z") in entry
    assert "+" + row.format("4.0 KiB | 2026-11-29T08:30:00Z") in entry
    assert "--- a/docs/components.md\n+++ b/docs/components.md\n" in entry
    # the update role appends its rows at the end: the monthly report still reads them, and not the diff lines
    with (client / "CHANGELOG.md").open("a") as handle:
        handle.write("| 2026-11-30 14:00 | production | shop-prod | main | 24.100.300 → 24.200.0 | r1 |\n")
    assert changelog_updates(client, Month(2026, 11)) == [
        {"date": "2026-11-30", "environment": "production", "host": "shop-prod", "module": "main",
         "from": "24.100.300", "to": "24.200.0"}]


def test_runner_docs_command_writes_and_says_where(client: Path) -> None:
    env = dict(os.environ, BXOPS_INVENTORIES_DIR=str(client.parent), BXOPS_LEDGER_URL=str(client / "l.sqlite"))
    cmd = [sys.executable, str(PROJECT / "runner.py"), "docs", "shop"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=PROJECT)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (f"project docs written to {client}/docs: README.md, integrations.md, components.md "
                                    f"changed, diff appended to {client}/CHANGELOG.md")
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=PROJECT)
    assert again.stdout.strip() == \
        f"project docs unchanged in {client}/docs (README.md, integrations.md, components.md)"
    unknown = subprocess.run([*cmd[:-1], "nosuch"], env=env, capture_output=True, text=True, check=False, cwd=PROJECT)
    assert unknown.returncode == 1 and "unknown client 'nosuch'" in unknown.stderr
