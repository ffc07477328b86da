"""Generator → audit (its integrations and components readers, on the generated files and DB dump) → the
client's docs: integrations.md and components.md list exactly what truth.json `docs` says was planted, and no
planted secret appears in any document or the changelog."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_integrations as bi
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import find_modules
from sqlfile_db import SqlFileDb  # type: ignore[import-not-found]

from bxops.projectdocs.facts import gather
from bxops.projectdocs.writer import write_docs

PROJECT = Path(__file__).resolve().parents[2]
NOW = 1_760_000_000
HOST = "shop-prod"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("docs-site")
    env = dict(os.environ, PYTHONPATH=str(PROJECT / "tools/sitegen"), PYTHONDONTWRITEBYTECODE="1")
    subprocess.run(
        [sys.executable, "-m", "bxsitegen", "--docroot", str(base / "www"), "--truth", str(base / "truth.json"),
         "--db-mode", "sqlfile", "--no-system-files", "--packages-dir", str(base / "updates"),
         "--site-user", "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
         "--now", str(NOW), "--force", "--seed", "31"],
        check=True, env=env, capture_output=True,
    )
    return base, json.loads((base / "truth.json").read_text())


@pytest.fixture(scope="module")
def docs(site: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    base, truth = site
    www = str(base / "www")
    # the crontab as the generator plants it with system files (here: in a folder of the test's own)
    crontabs = base / "crontabs"
    crontabs.mkdir()
    token = truth["docs"]["secrets"][0]
    (crontabs / truth["site_user"]).write_text(
        f"*/30 * * * * curl -fsS 'https://crm.example.com/api/sync?token={token}' >/dev/null 2>&1\n")
    report = {"schema": "bxops.audit/2", "generated_at": "2026-11-28T03:00:00Z", "docroot": www,
              "core": truth["core"], "modules": {}, "home_page": {"status": 200},
              "integrations": bi.collect_integrations(www, SqlFileDb(base / "sitemanager.sql").rows, find_modules(www),
                                                      [str(crontabs)], truth["site_user"]),
              "components": bi.collect_components(www)}
    client = tmp_path_factory.mktemp("inventories") / "shop"
    shutil.copytree(PROJECT / "tests/fixtures/projectdocs/shop", client)
    shutil.rmtree(client / "reports")
    (client / "reports" / HOST).mkdir(parents=True)
    (client / "reports" / HOST / "audit-2026-11-28.json").write_text(json.dumps(report))
    write_docs(gather("shop", client, client / "hosts.yml", PROJECT / "playbooks"), client,
               datetime(2026, 11, 30, tzinfo=UTC))
    return client


def tables(path: Path, host: str) -> dict[str, list[list[str]]]:
    """The rows of each `### section` table of one host's part, as cells (written apart from the templates)."""
    text = path.read_text(encoding="utf-8").split(f"## {host} (")[1]
    found: dict[str, list[list[str]]] = {}
    section = None
    for line in text.splitlines():
        if line.startswith("### "):
            section = line[4:]
            found[section] = []
        elif section and line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip().strip("`") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            found[section].append(cells)
    return {name: rows[1:] for name, rows in found.items()}  # without the header row


def test_integrations_md_lists_exactly_the_planted_integrations(site, docs) -> None:
    _base, truth = site
    planted = truth["docs"]["integrations"]
    got = tables(docs / "docs/integrations.md", HOST)

    def ids_and_names(section: str, name_col: int = 1) -> list[tuple[str, str]]:
        return [(row[0], row[name_col].replace("\\|", "|")) for row in got[section]]

    assert ids_and_names("Payment systems (sale)") == [(str(p["id"]), p["name"]) for p in planted["payment_systems"]]
    assert ids_and_names("Delivery services (sale)") == [(str(d["id"]), d["name"])
                                                         for d in planted["delivery_services"]]
    assert ids_and_names("REST applications") == [(str(a["id"]), a["code"]) for a in planted["rest_apps"]]
    assert ids_and_names("Incoming webhooks") == [(str(w["id"]), w["title"]) for w in planted["webhooks_in"]]
    assert ids_and_names("Outgoing webhooks (event handlers)") == [(str(w["id"]), w["event"])
                                                                    for w in planted["webhooks_out"]]
    assert ids_and_names("Cloud storage buckets", 2) == [(str(b["id"]), b["bucket"]) for b in planted["cloud_buckets"]]
    assert ids_and_names("Agents of the site's own code", 2) == [(str(a["id"]), a["name"]) for a in planted["agents"]]
    assert [(r[0], r[2]) for r in got["SMTP"]] == [(str(s["id"]), s["server"]) for s in planted["smtp"]["senders"]]
    assert [(r[0], r[1], r[2]) for r in got["1C exchange"]] == [(o["module"], o["name"], o["value"])
                                                                for o in planted["exchange_1c"]["options"]]
    marketplace = (docs / "docs/integrations.md").read_text().split("### Marketplace modules")[1].split("###")[0]
    assert re.findall(r"^- `([^`]+)`$", marketplace, re.M) == planted["marketplace_modules"]
    # every key named by where it lives: the rows' last cell is the truth's list
    assert [r[-1] for r in got["Payment systems (sale)"]] == [", ".join(p["keys"]) or "—"
                                                              for p in planted["payment_systems"]]
    assert [r[-1] for r in got["Cron jobs"]] == [
        "curl -fsS 'https://crm.example.com/api/sync?<redacted>' >/dev/null 2>&1"]


@pytest.mark.parametrize(("section", "kind"), [("Modules", "modules"), ("Custom components", "components"),
                                               ("Site templates", "templates")])
def test_components_md_lists_exactly_the_planted_code(site, docs, section: str, kind: str) -> None:
    _base, truth = site
    rows = tables(docs / "docs/components.md", HOST)[section]
    assert [(r[0], r[1], int(r[2]), r[4]) for r in rows] == [
        (e["name"], e["path"], e["files"], e["last_change"]) for e in truth["docs"]["components"][kind]]


def test_components_md_lists_the_overridden_vendor_templates(site, docs) -> None:
    _base, truth = site
    rows = tables(docs / "docs/components.md", HOST)["Overridden vendor templates"]
    assert [(r[0], r[1], r[2], r[3], r[6]) for r in rows] == [
        (e["name"], e["template"], e["site_template"], e["path"], e["last_change"])
        for e in truth["docs"]["components"]["overrides"]]


def test_no_planted_secret_in_any_doc_or_the_changelog(site, docs) -> None:
    _base, truth = site
    written = [docs / "docs" / n for n in ("README.md", "integrations.md", "components.md")] + [docs / "CHANGELOG.md"]
    text = "".join(p.read_text(encoding="utf-8") for p in written)
    assert len(truth["docs"]["secrets"]) >= 10
    assert [s for s in truth["docs"]["secrets"] if s in text] == []
