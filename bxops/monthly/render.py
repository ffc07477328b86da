"""Rendering the month's document: charts (matplotlib, embedded as data: URIs), one Jinja2 template per
format with the language from a gettext message catalog (Babel reads `locale/<lang>/LC_MESSAGES/*.po`),
the PDF from the HTML (WeasyPrint, DejaVu fonts for Cyrillic)."""

from __future__ import annotations

import base64
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

from bxops.durations import clock

LANGUAGES = ("ru", "en")
FORMATS = ("html", "pdf", "md", "json")
_HERE = Path(__file__).parent


def translations(lang: str) -> Any:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    po = _HERE / "locale" / lang / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()  # English: the message ids are the English text
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def _hours(seconds: int | float | None) -> str:
    return "—" if seconds is None else clock(int(seconds))


def _gib(value: int | float | None) -> str:
    return "—" if value is None else f"{value / 1024**3:.2f} GB"


def _number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(document: dict[str, Any], gettext: Any) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["font.family"] = "DejaVu Sans"
    found: dict[str, str] = {}
    hours = document["hours"]
    used = {item["work_type"] or "—": item["billed_seconds"] / 3600 for item in hours["by_work_type"]}
    expected = {key: float(value) for key, value in hours["expected_hours"].items()}
    types = sorted(set(used) | set(expected))
    if types:
        figure, axes = plt.subplots(figsize=(6.5, 2.8))
        positions = range(len(types))
        axes.bar([p - 0.2 for p in positions], [used.get(t, 0) for t in types], 0.4, label=gettext("Billed"))
        axes.bar([p + 0.2 for p in positions], [expected.get(t, 0) for t in types], 0.4, label=gettext("Expected"))
        axes.set_xticks(list(positions), [hours["work_type_labels"].get(t, t) for t in types], fontsize=7)
        axes.tick_params(axis="x", labelrotation=15)
        axes.set_ylabel(gettext("hours"))
        axes.legend()
        found["hours"] = _png(figure)
    for host in document["infrastructure"]["hosts"]:
        series = host["series"]
        if not any(series.values()):
            continue
        figure, panels = plt.subplots(1, 3, figsize=(9, 2.4))
        for axes, key, title, scale in (
            (panels[0], "response_ms", gettext("Response time, ms"), 1.0),
            (panels[1], "db_bytes", gettext("Database, GB"), 1024**3),
            (panels[2], "disk_used", gettext("Disk used, GB"), 1024**3),
        ):
            points = series[key]
            days = [date.fromisoformat(d).day for d, _v in points]
            # several sites' checks of one day: points, not a line jumping up and down within the day
            style = "-" if len(set(days)) == len(days) else "none"
            axes.plot(days, [v / scale for _d, v in points], marker="o", linestyle=style)
            axes.set_title(title, fontsize=9)
            axes.tick_params(labelsize=7)
        found[f"host:{host['host']}"] = _png(figure)
    return found


def environment(lang: str) -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(_HERE / "templates")),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["hours"] = _hours
    env.filters["gib"] = _gib
    env.filters["num"] = _number
    return env


def render(document: dict[str, Any], formats: list[str], lang: str) -> dict[str, bytes]:
    """Every requested format, in memory (nothing is written until all rendered)."""
    env = environment(lang)
    gettext = translations(lang).gettext
    rendered: dict[str, bytes] = {}
    context = {"doc": document, "lang": lang}
    if "html" in formats or "pdf" in formats:
        html = env.get_template("report.html.j2").render(**context, charts=charts(document, gettext))
        if "html" in formats:
            rendered["html"] = html.encode("utf-8")
        if "pdf" in formats:
            from weasyprint import HTML  # type: ignore[import-untyped]

            rendered["pdf"] = HTML(string=html).write_pdf()
    if "md" in formats:
        rendered["md"] = env.get_template("report.md.j2").render(**context).encode("utf-8")
    if "json" in formats:
        rendered["json"] = (json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
    return rendered
