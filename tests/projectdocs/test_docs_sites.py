"""The project docs of a host with several sites (issue 17), from the hand-written client in
tests/report/fixtures/twosites: web1 runs main and shop (bitrix_sites in the inventory, reports in
reports/web1/sites/<site>/), web2 is a one-site host in the old layout. Each site is listed with its own facts;
the expected rows are worked out by hand from the fixture (sizes: bytes / 1024^n, one decimal)."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bxops.projectdocs.facts import gather
from bxops.projectdocs.writer import write_docs

PROJECT = Path(__file__).resolve().parents[2]
FIXTURE = PROJECT / "tests/report/fixtures/twosites"
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECRETS = ("fixture-main-db-secret-4", "fixture-shop-db-secret-9")


@pytest.fixture()
def client(tmp_path: Path) -> Path:
    folder = tmp_path / "twosites"
    folder.mkdir()
    shutil.copy(FIXTURE / "hosts.yml", folder / "hosts.yml")
    shutil.copytree(FIXTURE / "reports", folder / "reports")
    return folder


def write(client: Path) -> dict[str, str]:
    write_docs(gather("twosites", client, client / "hosts.yml", PROJECT / "playbooks"), client, NOON)
    return {name: (client / "docs" / name).read_text(encoding="utf-8")
            for name in ("README.md", "integrations.md", "components.md")}


def sections(text: str) -> dict[str, str]:
    """The text under each `## ` heading, by heading."""
    found: dict[str, str] = {}
    for part in text.split("\n## ")[1:]:
        heading, _, body = part.partition("\n")
        found[heading] = body
    return found


def test_readme_lists_each_site_with_its_own_facts(client: Path) -> None:
    lines = write(client)["README.md"].splitlines()
    assert ("| production | web1 / main | 10.0.0.7 | main.example.ru, www.main.example.ru | /home/bitrix/www | — "
            "| 2026-11-25 |") in lines
    assert ("| production | web1 / shop | 10.0.0.7 | shop.example.ru | /home/bitrix/ext_www/shop.example.ru | bitrix "
            "| 2026-11-25 |") in lines
    assert "| production | web2 | 10.0.0.8 | — | /home/bitrix/www | — | 2026-11-25 |" in lines  # the old layout
    # DB 1,100,000,000 B = 1.0 GiB, 3,500,000,000 B = 3.3 GiB; disk free 58,000,000,000 B = 54.0 GiB
    assert ("| web1 / main | Debian GNU/Linux 11 (bullseye) | nginx + Apache (mod_php) | 8.2.20 "
            "| 10.5.26-MariaDB-0+deb11u2 | 24.0.0 | 1.0 GiB | 54.0 GiB |") in lines
    assert ("| web1 / shop | Debian GNU/Linux 11 (bullseye) | nginx + Apache (mod_php) | 7.4.33 "
            "| 10.5.26-MariaDB-0+deb11u2 | 23.0.0 | 3.3 GiB | 54.0 GiB |") in lines
    assert "| web2 | — | — | 8.1.29 | — | 22.0.0 | 476.8 MiB | 37.3 GiB |" in lines  # 5e8 B, 4e10 B
    assert ("- **web1 / shop** (production): files in `/home/bitrix/ext_www/shop.example.ru` (uploads in `upload`), "
            "run as `bitrix`; database `shopdb` on `localhost`.") in " ".join(lines)
    assert not any("Not audited yet" in line for line in lines)


def test_integrations_and_components_per_site(client: Path) -> None:
    docs = write(client)
    integrations = sections(docs["integrations.md"])
    assert list(integrations) == ["web1 / main (production)", "web1 / shop (production)", "web2 (production)"]
    card = ("| 7 | Shop card payments | `sberbank` | yes "
            "| b_sale_bizval.PROVIDER_VALUE (CONSUMER_KEY=PAYSYSTEM_7) |")
    assert card in integrations["web1 / shop (production)"]
    assert card not in integrations["web1 / main (production)"]
    assert "Exchange page: `/bitrix/admin/1c_exchange.php`" in integrations["web1 / shop (production)"]
    assert "No exchange page on the site." in integrations["web1 / main (production)"]
    assert "`/etc/cron.d/bx_main`" in integrations["web1 / main (production)"]
    assert ("the last audit (2026-11-25, schema bxops.audit/1) predates the integrations list"
            in integrations["web2 (production)"])
    components = sections(docs["components.md"])
    assert "| `corporate` | `local/templates/corporate` | 9 | 200.0 KiB |" in components["web1 / main (production)"]
    assert "shopfront" not in components["web1 / main (production)"]
    assert "| `shopfront` | `local/templates/shopfront` | 14 | 400.0 KiB |" in components["web1 / shop (production)"]
    everything = "".join(docs.values()) + (client / "CHANGELOG.md").read_text(encoding="utf-8")
    for secret in SECRETS:  # bitrix_sites carries each site's DB password: never read into the docs
        assert secret not in everything


def test_sites_not_audited_yet_come_from_the_inventory(client: Path) -> None:
    shutil.rmtree(client / "reports")
    lines = write(client)["README.md"].splitlines()
    assert "| production | web1 / main | 10.0.0.7 | main.example.ru, www.main.example.ru | /home/bitrix/www | — | — |" \
        in lines
    assert ("| production | web1 / shop | 10.0.0.7 | shop.example.ru | /home/bitrix/ext_www/shop.example.ru | bitrix "
            "| — |") in lines
    assert "Not audited yet: web1 / main, web1 / shop, web2" in lines


def test_sites_from_host_vars_and_sites_only_audited(client: Path) -> None:
    """bitrix_sites in host_vars/<host>.yml counts as the inventory's; a site folder the inventory does not name
    (yet) is listed after the named ones."""
    hosts = (client / "hosts.yml").read_text(encoding="utf-8")
    start = hosts.index("          bitrix_sites:")
    end = hosts.index("        web2:")
    (client / "hosts.yml").write_text(hosts[:start] + hosts[end:], encoding="utf-8")
    (client / "host_vars").mkdir()
    (client / "host_vars" / "web1.yml").write_text(
        "bitrix_sites:\n  - name: shop\n    docroot: /home/bitrix/ext_www/shop.example.ru\n"
        "    domains: [shop.example.ru]\n    db: {password: fixture-shop-db-secret-9}\n", encoding="utf-8")
    docs = write(client)
    rows = [line for line in docs["README.md"].splitlines() if line.startswith("| production | web1")]
    assert [row.split(" | ")[1] for row in rows] == ["web1 / shop", "web1 / main"]
    assert all(secret not in "".join(docs.values()) for secret in SECRETS)
