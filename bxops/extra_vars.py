"""Extra vars from the command line: `k=v`, `@file.yml`, or an inline YAML/JSON mapping."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bxops.errors import BxopsError

RESERVED = ("bxops_env", "bxops_runner")


def _mapping(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise BxopsError(f"extra vars {where}: not valid YAML or JSON") from None
    if not isinstance(data, dict):
        raise BxopsError(f"extra vars {where}: expected a mapping")
    return {str(key): value for key, value in data.items()}


def parse_extra_vars(items: Iterable[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            path = Path(item[1:]).expanduser()
            try:
                merged.update(_mapping(path.read_text(encoding="utf-8"), str(path)))
            except OSError as error:
                raise BxopsError(f"extra vars file {path}: {error.strerror}") from None
        elif item.lstrip().startswith("{"):
            merged.update(_mapping(item, "mapping"))
        else:
            for pair in item.split():
                key, sep, value = pair.partition("=")
                if not sep or not key.isidentifier():
                    raise BxopsError(f"extra var {pair!r}: expected name=value")
                merged[key] = value
    for name in RESERVED:
        if name in merged:
            where = "the ENV argument" if name == "bxops_env" else "the runner itself"
            raise BxopsError(f"extra var {name!r} comes from {where}; do not pass it with -e")
    return merged
