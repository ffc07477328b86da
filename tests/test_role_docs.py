"""scripts/role_docs.py: README variable tables generated from the argument specs, and the check that
specs, defaults/main.yml and READMEs agree (issue 13). The fixture role's README table and the expected
messages are written by hand; disagreements are planted one at a time in a copy."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
FIXTURE = PROJECT / "tests" / "fixtures" / "role_docs" / "roles"
SCRIPT = PROJECT / "scripts" / "role_docs.py"

_spec = importlib.util.spec_from_file_location("role_docs", SCRIPT)
assert _spec is not None and _spec.loader is not None
role_docs = importlib.util.module_from_spec(_spec)
sys.modules["role_docs"] = role_docs  # dataclasses look their module up
_spec.loader.exec_module(role_docs)


@pytest.fixture
def roles(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "roles")
    return tmp_path / "roles"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture changed: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], text=True, capture_output=True, timeout=60)


def test_the_hand_written_table_is_what_the_generator_writes(roles: Path) -> None:
    assert role_docs.check(roles / "demo") == []
    readme = (roles / "demo" / "README.md").read_text()
    assert role_docs.table(roles / "demo") in readme
    assert _run("--check", "--roles", str(roles)).returncode == 0


@pytest.mark.parametrize(("file", "old", "new", "problem"), [
    ("defaults/main.yml", "demo_retries: 3\n", "demo_retries: 3\ndemo_extra: 1\n",
     "demo: defaults/main.yml sets demo_extra, which no entry point of meta/argument_specs.yml declares"),
    ("defaults/main.yml", "demo_retries: 3\n", "demo_retries: 5\n",
     "demo: demo_retries defaults to 5 in defaults/main.yml but to 3 in meta/argument_specs.yml"),
    ("defaults/main.yml", "demo_mode: fast\n", "demo_mode: fast\ndemo_target: x\n",
     "demo: demo_target defaults to 'x' in defaults/main.yml but to nothing in meta/argument_specs.yml"),
    ("defaults/main.yml", 'demo_restore_id: ""\n', "",
     "demo: meta/argument_specs.yml gives demo_restore_id the default '', which defaults/main.yml does not set"),
    ("meta/argument_specs.yml", "  restore:\n    short_description: Demo restore\n    options:\n",
     "  restore:\n    short_description: Demo restore\n    options:\n      demo_retries:\n        type: int\n"
     "        default: 4\n        description: Attempts.\n",
     "demo: option demo_retries is declared differently by entry points main and restore"),
    ("README.md", "| `demo_retries` | int | `3` |", "| `demo_retries` | int | `5` |",
     "demo: README.md's variable table differs from meta/argument_specs.yml (run scripts/role_docs.py)"),
    ("README.md", "<!-- END role variables -->\n", "",
     "demo: README.md has no generated variable table (markers "),
])
def test_each_planted_disagreement_is_named(roles: Path, file: str, old: str, new: str, problem: str) -> None:
    _edit(roles / "demo" / file, old, new)
    problems = role_docs.check(roles / "demo")
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems
    proc = _run("--check", "--roles", str(roles))
    assert proc.returncode == 1
    assert problem in proc.stderr


def test_writing_mends_the_readme_and_keeps_the_prose(roles: Path) -> None:
    readme = roles / "demo" / "README.md"
    before = readme.read_text()
    _edit(readme, "| `demo_retries` | int | `3` | all | Attempts. |\n", "")
    _edit(roles / "demo" / "meta" / "argument_specs.yml", "description: Attempts.", "description: Tries.")
    proc = _run("--roles", str(roles))
    assert proc.returncode == 0, proc.stderr
    assert readme.read_text() == before.replace("| Attempts. |", "| Tries. |")
    assert proc.stdout == f"wrote {readme}\n"
    assert _run("--roles", str(roles)).stdout == ""  # nothing left to write


def test_writing_cannot_mend_a_spec_and_defaults_disagreement(roles: Path) -> None:
    _edit(roles / "demo" / "defaults" / "main.yml", "demo_mode: fast", "demo_mode: slow")
    proc = _run("--roles", str(roles))
    assert proc.returncode == 1
    assert "demo_mode defaults to 'slow' in defaults/main.yml but to 'fast'" in proc.stderr


def test_the_collection_roles_agree() -> None:
    assert [p for role in sorted((PROJECT / "roles").iterdir()) if (role / "meta").is_dir()
            for p in role_docs.check(role)] == []
