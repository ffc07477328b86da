"""Render roles/monitoring_server's rule template with the role's defaults (plus overrides), the way the
role's template task does it ([[ ]] as Jinja's variable delimiters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "monitoring_server"


def role_defaults() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    return data


def render_rules(**overrides: Any) -> str:
    env = jinja2.Environment(
        variable_start_string="[[",
        variable_end_string="]]",
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    template = env.from_string((ROLE / "templates" / "bxops.rules.yml.j2").read_text())
    return template.render(**{**role_defaults(), **overrides})
