"""The Bitrix facts (module_utils/bitrix_facts.py) are the one list every module and role uses."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from ansible_collections.bxops.bitrix.plugins.filter.bitrix_facts import FilterModule
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_facts, bitrix_orphans
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_audit, bitrix_cleanup

PROJECT = Path(__file__).resolve().parents[1]

# The domain brief, section 3, copied by hand: what the core's own backup leaves out, then BitrixVM's two.
BRIEF_DISPOSABLE = [
    "bitrix/cache", "bitrix/cache_image", "bitrix/managed_cache", "bitrix/managed_flags", "bitrix/stack_cache",
    "bitrix/html_pages", "bitrix/tmp", "bitrix/updates", "upload/tmp", "upload/resize_cache",
    "bitrix/local_cache", "bitrix/backup",
]


def test_the_disposable_folders_are_the_briefs() -> None:
    assert sorted(bitrix_facts.DISPOSABLE_FOLDERS) == sorted(BRIEF_DISPOSABLE)
    assert len(set(bitrix_facts.DISPOSABLE_FOLDERS)) == len(BRIEF_DISPOSABLE)
    # a site with another upload folder (main.upload_dir) has its upload-side folders there
    assert bitrix_facts.disposable_folders("/files/") == [
        *(p for p in BRIEF_DISPOSABLE if p.startswith("bitrix/") and p not in ("bitrix/local_cache", "bitrix/backup")),
        "bitrix/local_cache", "bitrix/backup", "files/tmp", "files/resize_cache"]


def test_modules_use_the_one_list() -> None:
    assert list(bitrix_audit.DISPOSABLE) == list(bitrix_facts.DISPOSABLE_FOLDERS)
    assert set(bitrix_cleanup.CACHE_CATEGORIES.values()) | {"bitrix/html_pages", "bitrix/tmp", "bitrix/backup"} \
        == {p for p in BRIEF_DISPOSABLE if p.startswith("bitrix/")} - {"bitrix/updates", "bitrix/local_cache"}
    assert set(bitrix_orphans.CONTENT_EXCLUDE) == {"bitrix/modules"} | {
        p for p in BRIEF_DISPOSABLE if p.startswith("bitrix/")}
    assert bitrix_orphans.SERVICE_FOLDERS == ["tmp", "resize_cache", "1c_catalog", "1c_exchange"]


def _documented_defaults(module: str) -> dict[str, object]:
    source = (PROJECT / "plugins" / "modules" / f"{module}.py").read_text()
    doc = next(node.value.value for node in ast.parse(source).body
               if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION")
    return {name: spec.get("default") for name, spec in yaml.safe_load(doc)["options"].items()}


def test_documented_defaults_are_the_facts() -> None:
    orphans = _documented_defaults("bitrix_orphans")
    assert orphans["content_exclude"] == bitrix_orphans.CONTENT_EXCLUDE
    assert orphans["service_folders"] == bitrix_orphans.SERVICE_FOLDERS
    assert _documented_defaults("bitrix_cleanup")["backup_dirs"] == [bitrix_facts.CORE_BACKUPS]


def test_the_backup_role_takes_its_default_from_the_facts() -> None:
    assert FilterModule().filters()["disposable_folders"]("upload") == list(bitrix_facts.DISPOSABLE_FOLDERS)
    # An empty backup_disposable_paths means the facts' list for the site's own upload folder (main.upload_dir,
    # read by common's site check): the role copies no list; it computes it through the filter.
    defaults = yaml.safe_load((PROJECT / "roles/backup/defaults/main.yml").read_text())
    assert defaults["backup_disposable_paths"] == []
    specs = yaml.safe_load((PROJECT / "roles/backup/meta/argument_specs.yml").read_text())
    documented = specs["argument_specs"]["main"]["options"]["backup_disposable_paths"]["default"]
    assert documented == defaults["backup_disposable_paths"]
    preflight = (PROJECT / "roles/backup/tasks/preflight.yml").read_text()
    assert "__common_site.upload_dir | bxops.bitrix.disposable_folders" in preflight


def _code_strings(path: Path) -> set[str]:
    """The string constants of a plugin's code, its DOCUMENTATION/EXAMPLES/RETURN and docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {id(node.value) for node in tree.body if isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", "") in ("DOCUMENTATION", "EXAMPLES", "RETURN")}
    docs |= {id(node.body[0].value) for node in ast.walk(tree)  # docstrings: prose, not code
             if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
             and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs}


def test_no_plugin_spells_a_disposable_folder_of_its_own() -> None:
    spelled = {}
    for path in sorted((PROJECT / "plugins").rglob("*.py")):
        if path.name == "bitrix_facts.py" or "doc_fragments" in path.parts:
            continue
        found = sorted(s for s in _code_strings(path) if any(folder in s for folder in BRIEF_DISPOSABLE))
        if found:
            spelled[str(path.relative_to(PROJECT))] = found
    assert spelled == {}
