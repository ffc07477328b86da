"""The audit role on localhost over two generated sites (issue 17): each site's reports go to their own folder,
reports/<host>/sites/<site>/, neither overwriting the other; a one-site host keeps reports/<host>/.

The sites come from the generator (tools/sitegen, two cores), whose truth.json says what each report must
hold. No database server runs here: a stand-in `mysql` answers as the client does when no server listens
(the audit reports the DB unreachable and goes on); the DB part is covered by `molecule test -s audit`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
NO_SERVER = """#!/bin/sh
echo "ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)" >&2
exit 1
"""
CORES = {"main": "23.0.0", "shop": "24.100.0"}


def generate(base: Path, name: str, core: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(PROJECT / "tools/sitegen"), PYTHONDONTWRITEBYTECODE="1")
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    subprocess.run([sys.executable, "-m", "bxsitegen", "--docroot", str(base / name), "--truth",
                    str(base / f"{name}.json"), "--db-mode", "none", "--no-system-files", "--site-user", user,
                    "--upload-files", "200", "--bfile-rows", "100", "--cache-files", "20", "--core-version", core,
                    "--seed", "17", "--force"], check=True, env=env, capture_output=True, timeout=120)
    truth: dict[str, Any] = json.loads((base / f"{name}.json").read_text())
    return truth


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("sites")
    return {name: generate(base, name, core) for name, core in CORES.items()}


def audit(tmp_path: Path, host_vars: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any], str]:
    """ansible-playbook with the json callback: its exit code, its output document and its stderr."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mysql").write_text(NO_SERVER)
    (bin_dir / "mysql").chmod(0o755)
    base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "bxops_state_dir": str(tmp_path / "state"), "audit_report_dir": str(tmp_path / "reports"),
            "audit_home_url": "http://127.0.0.1:9/", "audit_page_timeout": 2}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {**base, **host_vars}}}}))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_SHOW_CUSTOM_STATS="true",
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(HERE / "audit_sites.yml"), *extra],
                          cwd=PROJECT, env=env, text=True, capture_output=True, timeout=300)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def site_entry(truth: dict[str, Any], name: str) -> dict[str, Any]:
    return {"name": name, "docroot": truth["docroot"], "domains": [f"{name}.example.test"],
            "site_user": truth["site_user"]}


def dated(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("audit-????-??-??.json"))


def days_of_the_run(started: datetime) -> set[str]:
    return {f"audit-{day:%Y-%m-%d}.json" for day in (started, datetime.now(UTC))}


def test_two_sites_two_report_folders(tmp_path: Path, sites: dict[str, dict[str, Any]]) -> None:
    started = datetime.now(UTC)
    rc, out, err = audit(tmp_path, {"bitrix_sites": [site_entry(truth, name) for name, truth in sites.items()]})
    assert rc == 0, err + json.dumps(out)[-3000:]
    host = tmp_path / "reports" / "localhost"
    assert sorted(p.name for p in host.iterdir()) == ["sites"]  # nothing in the one-site place
    assert sorted(p.name for p in (host / "sites").iterdir()) == ["main", "shop"]
    for name, truth in sites.items():
        folder = host / "sites" / name
        files = dated(folder)
        assert len(files) == 1 and set(files) <= days_of_the_run(started)
        for path in (folder / files[0], folder / "audit-latest.json"):
            report = json.loads(path.read_text())
            assert report["docroot"] == truth["docroot"]
            assert report["core"]["version"] == truth["core"]["version"] == CORES[name]
            assert [c["domain"] for c in report["certificates"]] == [f"{name}.example.test"]
    # the runner's copy (set_stats, per host): by site, not blended into one `audit`
    stats = out["custom_stats"]["localhost"]
    assert "audit" not in stats
    assert {name: report["core"]["version"] for name, report in stats["audit_sites"].items()} == CORES


def test_one_site_keeps_the_host_folder(tmp_path: Path, sites: dict[str, dict[str, Any]]) -> None:
    truth = sites["shop"]
    started = datetime.now(UTC)
    rc, out, err = audit(tmp_path, {"bitrix_docroot": truth["docroot"], "bitrix_domains": ["shop.example.test"],
                                    "bitrix_site_user": truth["site_user"]})
    assert rc == 0, err + json.dumps(out)[-3000:]
    host = tmp_path / "reports" / "localhost"
    assert not (host / "sites").exists()
    files = dated(host)
    assert len(files) == 1 and set(files) <= days_of_the_run(started)
    assert json.loads((host / "audit-latest.json").read_text())["core"]["version"] == CORES["shop"]
    assert out["custom_stats"]["localhost"]["audit"]["docroot"] == truth["docroot"]


def test_a_site_name_that_is_no_folder_name_is_refused(tmp_path: Path, sites: dict[str, dict[str, Any]]) -> None:
    """The sites filter refuses such names in common's loop; the role checks again before writing a path."""
    truth = sites["main"]
    rc, out, _err = audit(tmp_path, {"bitrix_sites": [site_entry(truth, "main")], "bitrix_docroot": truth["docroot"],
                                     "bitrix_site_user": truth["site_user"]},
                          "-e", "audit_test_direct=true", "-e", "bitrix_site_name=../../escape")
    assert rc == 2
    assert "cannot name a report folder" in json.dumps(out)
    assert not (tmp_path / "reports").exists() or list((tmp_path / "reports").rglob("*.json")) == []
    assert not (tmp_path / "escape").exists()
