"""The code that runs on the managed host (modules, module_utils) keeps to Python 3.9.

3.9 is the stated minimum (README): Debian 11's python3 and EL9's platform Python. The controller runs
3.11, so nothing in the ordinary test run would notice a 3.10+ feature in a module; these checks do.
vermin (scripts/lint.sh) covers the standard library's members and arguments; ruff parses these files
as 3.9 (pyproject's per-file-target-version). Where a Python 3.9 is found (python3.9 on PATH, a pyenv
build, or $BXOPS_HOST_PYTHON), each file is imported on it and modules run through ansible on it.
"""

from __future__ import annotations

import ast
import functools
import glob
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[1]
HOST_FILES = sorted(
    p
    for d in ("plugins/modules", "plugins/module_utils")
    for p in (PROJECT / d).glob("*.py")
    if p.name != "__init__.py"
)
MINIMUM = (3, 9)

# Names that are types when they stand beside `|`: a `|` between them outside an annotation builds a
# types.UnionType at run time, which 3.9 lacks (TypeError: unsupported operand type(s) for |).
TYPE_NAMES = {
    "str", "bytes", "int", "float", "bool", "complex", "dict", "list", "tuple", "set", "frozenset", "type",
    "object", "bytearray", "memoryview", "Any", "Callable", "Iterator", "Iterable", "Mapping", "Sequence",
}  # fmt: skip


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(PROJECT)) for p in paths]


def test_host_files_found() -> None:
    names = {p.name for p in HOST_FILES}
    assert {"bitrix_audit.py", "bitrix_backup.py", "bitrix_docroot.py"} <= names


@pytest.mark.parametrize("path", HOST_FILES, ids=_ids(HOST_FILES))
def test_parses_as_python_3_9(path: Path) -> None:
    # feature_version rejects syntax newer than 3.9 (match, except*, PEP 695 type aliases, ...).
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=MINIMUM)


@pytest.mark.parametrize("path", HOST_FILES, ids=_ids(HOST_FILES))
def test_annotations_are_not_evaluated(path: Path) -> None:
    # `str | None` in a signature is fine on 3.9 only because annotations stay strings.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    future = [
        n for n in tree.body
        if isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
    ]  # fmt: skip
    assert future, f"{path.name}: add `from __future__ import annotations`"


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (not evaluated under `from __future__ import annotations`)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(sub) for root in roots for sub in ast.walk(root)}


def _is_type(node: ast.AST, classes: set[str]) -> bool:
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    if isinstance(node, ast.Subscript):  # list[str], dict[str, Any]
        return _is_type(node.value, classes)
    if isinstance(node, ast.Attribute):  # os.stat_result, typing.Any
        return node.attr in TYPE_NAMES or node.attr in classes
    if isinstance(node, ast.Name):
        return node.id in TYPE_NAMES or node.id in classes
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type(node.left, classes) or _is_type(node.right, classes)
    return False


def runtime_unions(source: str) -> list[int]:
    """Line numbers of `X | Y` between types outside annotations: isinstance(x, A | B), Alias = A | None."""
    tree = ast.parse(source)
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    skip = _annotation_nodes(tree)
    return sorted({
        node.lineno for node in ast.walk(tree)
        if id(node) not in skip and isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)
        and (_is_type(node.left, classes) or _is_type(node.right, classes))
    })  # fmt: skip


def test_runtime_union_detector() -> None:
    # The detector itself, on hand-written cases: it must see run-time unions and leave annotations
    # and integer flags alone.
    source = (
        "from __future__ import annotations\n"
        "import os\n"
        "class Entry: pass\n"
        "def f(a: str | None, b: list[int] | None = None) -> dict[str, int] | None:\n"
        "    x: int | None = None\n"
        "    flags = os.O_RDONLY | os.O_NOFOLLOW\n"
        "    return isinstance(a, str | bytes)\n"  # line 7
        "Alias = Entry | None\n"  # line 8
        "Pair = tuple[int, int] | list[int]\n"  # line 9
    )
    assert runtime_unions(source) == [7, 8, 9]


@pytest.mark.parametrize("path", HOST_FILES, ids=_ids(HOST_FILES))
def test_no_union_types_at_run_time(path: Path) -> None:
    lines = runtime_unions(path.read_text(encoding="utf-8"))
    assert not lines, f"{path.name}: `X | Y` evaluated at run time (3.10+) on lines {lines}; use typing.Union/a tuple"


@functools.cache
def _python_3_9() -> str | None:
    """A working Python 3.9: $BXOPS_HOST_PYTHON, python3.9 on PATH, or a pyenv build."""
    candidates = [os.environ.get("BXOPS_HOST_PYTHON"), shutil.which("python3.9")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9.*/bin/python3.9")), reverse=True)
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                               capture_output=True, text=True, check=False)
        if probe.stdout.strip() == "True":
            return python
    return None


@pytest.mark.skipif(_python_3_9() is None, reason="no python3.9 here (set BXOPS_HOST_PYTHON)")
@pytest.mark.parametrize("path", HOST_FILES, ids=_ids(HOST_FILES))
def test_imports_on_python_3_9(path: Path) -> None:
    # A real 3.9 interpreter runs each file's module-level code (imports, class bodies, constants),
    # with ansible-core's module_utils from this venv as on a host.
    python = _python_3_9()
    assert python is not None
    kind = path.parent.name
    site = next(p for p in sys.path if p.endswith("site-packages"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PROJECT / ".collections"), site]), PYTHONNOUSERSITE="1")
    code = (
        "import sys; assert sys.version_info[:2] == (3, 9), sys.version; "
        f"import ansible_collections.bxops.bitrix.plugins.{kind}.{path.stem}"
    )
    proc = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _run_on_3_9(python: str, module: str, args: dict[str, object], check: bool = False) -> dict[str, Any]:
    """One module run the way Ansible runs it on a host (AnsiballZ), with python3.9 as the interpreter."""
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
    )
    argv = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-e", f"ansible_python_interpreter={python}",
            "-m", f"bxops.bitrix.{module}", "-a", json.dumps(args)]  # fmt: skip
    if check:
        argv.append("--check")
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    result: dict[str, Any] = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert not result.get("failed"), result.get("msg")
    return result


@pytest.mark.skipif(_python_3_9() is None, reason="no python3.9 here (set BXOPS_HOST_PYTHON)")
def test_modules_run_on_python_3_9(tmp_path: Path) -> None:
    # A small site written here; each module run through ansible on a 3.9 interpreter, results checked
    # against what was planted.
    python = _python_3_9()
    assert python is not None
    www = tmp_path / "www"
    version = www / "bitrix/modules/main/classes/general/version.php"
    version.parent.mkdir(parents=True)
    version.write_text('<?php\ndefine("SM_VERSION", "23.850.0");\ndefine("SM_VERSION_DATE", "2024-03-01 10:00:00");\n')
    cached = www / "bitrix/cache/s1/a.php"
    cached.parent.mkdir(parents=True)
    cached.write_text("<?php //")  # 8 bytes
    old = time.time() - 2 * 86400
    os.utime(cached, (old, old))
    image = www / "upload/iblock/1/a.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"jpeg")
    image.chmod(0o666)

    info = _run_on_3_9(python, "bitrix_site_info", {"docroot": str(www), "read_db": False})
    assert info["core"] == {"version": "23.850.0", "date": "2024-03-01 10:00:00"}

    lock = _run_on_3_9(python, "bitrix_site_lock", {"path": str(tmp_path / "lock"), "owner": "run-39"})
    assert lock["changed"] is True and lock["holder"]["owner"] == "run-39"

    cleanup = _run_on_3_9(python, "bitrix_cleanup", {"docroot": str(www), "categories": ["cache"], "log_dirs": []},
                          check=True)  # fmt: skip
    assert cleanup["categories"]["cache"]["files"] == 1
    assert cleanup["categories"]["cache"]["bytes"] == 8
    assert cached.exists()  # check mode

    perms = _run_on_3_9(python, "bitrix_permissions", {
        "docroot": str(www), "owner": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name,
        "file_mode": "0644", "dir_mode": "0755",
    }, check=True)  # fmt: skip
    assert perms["samples"]["world_writable"] == ["upload/iblock/1/a.jpg"]
    assert image.stat().st_mode & 0o777 == 0o666  # check mode
