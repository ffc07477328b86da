"""Two clones on one machine share the dependency virtualenv, never each other's code: runner.py and the
tests of each clone import bxops from that clone (scripts/bootstrap.sh installs no checkout into the
shared virtualenv, which an earlier bootstrap pointed at whichever checkout ran it last)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

WHICH_TEST = '''
import bxops


def test_which_checkout() -> None:
    assert bxops.CLONE == {name!r}, bxops.__file__
'''


def clone(root: Path, name: str) -> Path:
    """A checkout's files that matter here, with a mark of its own in its package."""
    target = root / name
    for relative in ("bxops", "tests/runner/playbooks"):
        shutil.copytree(REPO / relative, target / relative, ignore=shutil.ignore_patterns("__pycache__"))
    for relative in (
        "runner.py",
        "galaxy.yml",
        "pyproject.toml",
        "ansible.cfg",
        "tests/conftest.py",
        "tests/helpers.py",  # puts its own checkout first on sys.path
        "tests/runner/__init__.py",
        "tests/runner/conftest.py",
        "inventories/demo/contract.yml",
    ):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, target / relative)
    with (target / "bxops" / "__init__.py").open("a") as handle:
        handle.write(f"\nCLONE = {name!r}\n")
    (target / "tests" / "runner" / "test_which.py").write_text(WHICH_TEST.format(name=name))
    return target


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BXOPS_", "PYTHON"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def test_each_clone_runs_its_own_code(tmp_path: Path) -> None:
    clones = {name: clone(tmp_path, name) for name in ("a", "b")}
    pytest_script = Path(sys.executable).parent / "pytest"  # the venv's console script, as an engineer runs it
    for name, root in clones.items():
        # runner.py of each clone: its settings find its own root (the package's parent)
        shown = subprocess.run(
            [sys.executable, str(root / "runner.py"), "contract", "demo"],
            cwd="/",
            env=clean_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip().endswith(f"{root}/inventories/demo/contract.yml: valid"), shown.stdout
        # the tests of each clone, started with the shared venv's pytest
        tested = subprocess.run(
            [str(pytest_script), "-q", "-p", "no:cacheprovider", "tests/runner/test_which.py"],
            cwd=root,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert tested.returncode == 0, f"clone {name}:\n{tested.stdout}\n{tested.stderr}"
