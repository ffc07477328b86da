#!/usr/bin/env python3
"""Role variable tables from the argument specs, and the check that specs, defaults and READMEs agree.

    scripts/role_docs.py            write each roles/*/README.md's table between the markers, then check
    scripts/role_docs.py --check    change nothing; fail (exit 1) listing every disagreement

For every role: each variable of defaults/main.yml is an option of meta/argument_specs.yml with the same
default; each spec option with a default is in defaults/main.yml; an option declared by several entry points
is declared alike; the README's table between the markers is the one generated from the spec.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BEGIN = "<!-- BEGIN role variables: generated from meta/argument_specs.yml by scripts/role_docs.py, do not edit -->"
END = "<!-- END role variables -->"
PROJECT = Path(__file__).resolve().parents[1]
_MISSING = object()


@dataclass
class Option:
    name: str
    spec: dict[str, Any]
    entries: list[str] = field(default_factory=list)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def _markup(text: str) -> str:
    """Ansible doc markup to Markdown: C(x), V(x), O(x), I(x), B(x)."""
    text = re.sub(r"\b[CVO]\(([^)]*)\)", r"`\1`", text)
    text = re.sub(r"\bI\(([^)]*)\)", r"*\1*", text)
    return re.sub(r"\bB\(([^)]*)\)", r"**\1**", text)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _description(spec: dict[str, Any]) -> str:
    desc = spec.get("description", "")
    if isinstance(desc, list):
        desc = " ".join(str(d) for d in desc)
    return _cell(_markup(str(desc)))


def _default(spec: dict[str, Any]) -> str:
    if "default" not in spec:
        return "required" if spec.get("required") else ""
    value = spec["default"]
    shown = ('""' if value == "" else value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "`" + _cell(shown) + "`"


def _type(spec: dict[str, Any]) -> str:
    kind = str(spec.get("type", "str"))
    if kind == "list" and "elements" in spec:
        kind = f"list of {spec['elements']}"
    if "choices" in spec:
        kind += ": " + ", ".join(f"`{c}`" for c in spec["choices"])
    return _cell(kind)


def options(role: Path) -> tuple[dict[str, Option], list[str]]:
    """Every option of every entry point, in spec order, and the disagreements between entry points."""
    specs = _load(role / "meta" / "argument_specs.yml") or {}
    found: dict[str, Option] = {}
    problems = []
    for entry, body in (specs.get("argument_specs") or {}).items():
        for name, spec in ((body or {}).get("options") or {}).items():
            spec = spec or {}
            if name not in found:
                found[name] = Option(name, spec)
            elif found[name].spec != spec:
                problems.append(f"{role.name}: option {name} is declared differently by entry points "
                                f"{', '.join(found[name].entries)} and {entry}")
            found[name].entries.append(entry)
    return found, problems


def table(role: Path) -> str:
    found, _ = options(role)
    entries = list((_load(role / "meta" / "argument_specs.yml") or {}).get("argument_specs") or {})
    several = len(entries) > 1
    head = "| variable | type | default |" + (" entry points |" if several else "") + " description |"
    rows = [head, "|---|---|---|" + ("---|" if several else "") + "---|"]
    for opt in found.values():
        where = ""
        if several:
            where = " all |" if opt.entries == entries else " " + ", ".join(f"`{e}`" for e in opt.entries) + " |"
        rows.append(f"| `{opt.name}` | {_type(opt.spec)} | {_default(opt.spec)} |{where} {_description(opt.spec)} |")
    return "\n".join(rows) + "\n"


def _split(readme: str) -> tuple[str, str, str] | None:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        return None
    body_start = start + len(BEGIN) + 1
    return readme[:body_start], readme[body_start:end], readme[end:]


def check(role: Path) -> list[str]:
    """Disagreements of one role's spec, defaults and README, one line each."""
    found, problems = options(role)
    defaults = _load(role / "defaults" / "main.yml") or {}
    for name, value in defaults.items():
        if name not in found:
            problems.append(f"{role.name}: defaults/main.yml sets {name}, which no entry point of "
                            "meta/argument_specs.yml declares")
        elif found[name].spec.get("default", _MISSING) != value:
            spec_default = found[name].spec.get("default", _MISSING)
            documented = "nothing" if spec_default is _MISSING else repr(spec_default)
            problems.append(f"{role.name}: {name} defaults to {value!r} in defaults/main.yml but to "
                            f"{documented} in meta/argument_specs.yml")
    for name, opt in found.items():
        if "default" in opt.spec and name not in defaults:
            problems.append(f"{role.name}: meta/argument_specs.yml gives {name} the default {opt.spec['default']!r}, "
                            "which defaults/main.yml does not set")
    readme = role / "README.md"
    parts = _split(readme.read_text(encoding="utf-8")) if readme.is_file() else None
    if parts is None:
        problems.append(f"{role.name}: README.md has no generated variable table (markers {BEGIN!r} ... {END!r})")
    elif parts[1] != table(role):
        problems.append(f"{role.name}: README.md's variable table differs from meta/argument_specs.yml "
                        "(run scripts/role_docs.py)")
    return problems


def write(role: Path) -> bool:
    """Put the generated table between the README's markers; True when the file changed."""
    readme = role / "README.md"
    parts = _split(readme.read_text(encoding="utf-8")) if readme.is_file() else None
    if parts is None or parts[1] == table(role):
        return False
    readme.write_text(parts[0] + table(role) + parts[2], encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing, fail on any disagreement")
    parser.add_argument("--roles", type=Path, default=PROJECT / "roles", help="the roles folder (default: ./roles)")
    args = parser.parse_args(argv)
    roles = sorted(p for p in args.roles.iterdir() if (p / "meta" / "argument_specs.yml").is_file())
    if not args.check:
        for role in roles:
            if write(role):
                print(f"wrote {role / 'README.md'}")
    problems = [p for role in roles for p in check(role)]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
