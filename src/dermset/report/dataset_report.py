"""`dermset report`: stats.json, the figures (PNG + SVG) and one self-contained HTML report.

The HTML embeds its figures as inline SVG and carries its own style sheet, so the single file can
be mailed, archived or opened offline; it refers to nothing outside itself.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from dermset.registry.project import Project
from dermset.report.dataset_stats import dataset_stats
from dermset.report.figures import FigureFile, render_figures

STATS_JSON = "stats.json"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"


def _pct(n: int | None, total: int | None) -> str:
    if not total or n is None:
        return ""
    return f"{100 * n / total:.1f} %"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ci(pair: list[float | None] | None) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return ""
    return f"{pair[0]:.2f}–{pair[1]:.2f}"


def json_safe(value: Any) -> Any:
    """NaN and infinities become null, so ``stats.json`` is strict JSON any reader accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _inline_svg(path: Path) -> Markup:
    """An SVG file as markup that can sit inside HTML (no XML prolog, no DOCTYPE)."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    return Markup(text.strip())


def render_html(stats: dict[str, Any], figures: list[FigureFile], project_name: str) -> str:
    env = Environment(
        loader=PackageLoader("dermset.report", "templates"),
        autoescape=select_autoescape(["html", "jinja"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["ci"] = _ci
    env.globals["pct"] = _pct
    template = env.get_template("dataset_report.html.jinja")
    return template.render(
        s=stats,
        project=project_name,
        figures=[{"f": f, "svg": _inline_svg(f.svg)} for f in figures],
    )


def write_report(stats: dict[str, Any], out_dir: str | Path, title: str) -> Path:
    """Write ``stats.json``, ``figures/`` and ``report.html`` from computed stats."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = json_safe(stats)
    text = json.dumps(stats, indent=2, ensure_ascii=False, allow_nan=False)
    (out / STATS_JSON).write_text(text + "\n", encoding="utf-8")
    figures = render_figures(stats, out / FIGURES_DIR)
    path = out / REPORT_HTML
    path.write_text(render_html(stats, figures, title), encoding="utf-8")
    return path


def build_report(project: Project, out_dir: str | Path, *, n_bootstrap: int = 1000) -> Path:
    """Write ``stats.json``, ``figures/`` and ``report.html`` into *out_dir*; returns the HTML."""
    with project.db.read() as s:
        stats = dataset_stats(s, project.protocol, n_bootstrap=n_bootstrap)
    return write_report(stats, out_dir, project.root.resolve().name)
