"""What the runner-side suites (tests/runner, sla, trackers, report, serve) share: the checkout on the
import path, runner.py's environment for a test's own client folder and ledger, runner.py in this process
or as a process, and the PostgreSQL of scripts/start-postgres.sh.

Importable as `helpers` from any test (tests/conftest.py's folder is on sys.path).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# bxops comes from this checkout, never from whichever checkout a shared virtualenv last pointed at
# (scripts/bootstrap.sh installs no checkout into it): before any test module imports it.
if str(REPO) not in sys.path[:1]:
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

RUNNER = REPO / "runner.py"
#: The runner tests' stand-in playbooks (they run on localhost).
TEST_PLAYBOOKS = REPO / "tests" / "runner" / "playbooks"


def runner_env(
    root: Path,
    inventories: Path,
    ledger_url: str,
    *,
    config: Path | None = None,
    artifacts: Path | None = None,
    playbooks: Path | None = None,
    drop: tuple[str, ...] = (),
    **extra: str,
) -> dict[str, str]:
    """runner.py's environment for a test's folder `root`: its client folders, ledger, artifacts and bxops
    config (default: a file that does not exist), engineer `tester`, this interpreter first on PATH and this
    checkout first on PYTHONPATH. Inherited variables starting with a prefix in `drop` are left out (a
    developer's own BXOPS_ settings, a tracker token); `extra` is added last."""
    env = {key: value for key, value in os.environ.items() if not (drop and key.startswith(drop))}
    env.update(
        BXOPS_ROOT=str(REPO),
        BXOPS_INVENTORIES_DIR=str(inventories),
        BXOPS_ARTIFACTS_DIR=str(artifacts or root / "artifacts"),
        BXOPS_LEDGER_URL=ledger_url,
        BXOPS_ENGINEER="tester",
        BXOPS_CONFIG=str(config or root / "no-config.toml"),
        COLUMNS="200",
    )
    if playbooks is not None:
        env["BXOPS_PLAYBOOKS_DIR"] = str(playbooks)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_runner(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """runner.py as a process of its own (runs that start Ansible, servers, exits and stderr that matter)."""
    return subprocess.run(
        [sys.executable, str(RUNNER), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_in_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """runner.py in this process (bxops.cli.main, as the console script calls it) under `env` alone: the
    same code path as run_runner without a second of start-up per call."""
    from bxops.cli import main

    saved = dict(os.environ)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main(args)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())


def pg_url_or_skip() -> str:
    """The test PostgreSQL's URL; the test is skipped without one, except in CI where that is a failure."""
    url = os.environ.get("BXOPS_TEST_PG_URL")
    if not url:
        message = 'BXOPS_TEST_PG_URL is not set (eval "$(scripts/start-postgres.sh)")'
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL tests must run in CI: {message}")
        pytest.skip(message)
    return url


def _engine_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def reset_postgres(url: str) -> None:
    """Drop the ledger's tables: the next open_ledger migrates an empty database."""
    engine = create_engine(_engine_url(url))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS worklogs, incidents, entries, alembic_version CASCADE"))
    engine.dispose()


def own_pg_database(url: str, name: str) -> str:
    """A fresh database `name` on the test server (for a suite whose ledger must not meet other suites'
    resets); its URL."""
    admin = create_engine(_engine_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name
