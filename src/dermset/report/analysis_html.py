"""Shared pieces of the analysis reports: Jinja2 templates, embedded figures, number formats.

Reports are single self-contained HTML files: figures are PNGs embedded as data URIs (and also
written next to the report for papers and slides), styles are inline, nothing is fetched.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # reports render without a display

import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.figure import Figure

DPI = 110


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{100 * float(value):.{digits}f} %"


def interval(est: dict[str, Any] | None, digits: int = 3) -> str:
    """``0.812 (0.774–0.845)``; a dash where a value is undefined."""
    if not est or est.get("value") is None:
        return "—"
    text = fmt(est["value"], digits)
    if est.get("low") is not None and est.get("high") is not None:
        text += f" ({fmt(est['low'], digits)}–{fmt(est['high'], digits)})"
    return text


def pvalue(p: Any) -> str:
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=PackageLoader("dermset.report", "templates"),
            autoescape=select_autoescape(["html", "jinja"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.filters.update(fmt=fmt, pct=pct, interval=interval, pvalue=pvalue)
    return _env


@dataclass
class Report:
    """A rendered report: HTML text, its JSON data and the figures (name → PNG bytes)."""

    html: str
    data: dict[str, Any]
    figures: dict[str, bytes] = field(default_factory=dict)

    def write(self, out_dir: str | Path, stem: str) -> dict[str, Path]:
        """Write ``stem.html``, ``stem.json`` and ``figures/*.png``; returns the paths."""
        out = Path(out_dir)
        (out / "figures").mkdir(parents=True, exist_ok=True)
        paths = {"html": out / f"{stem}.html", "json": out / f"{stem}.json"}
        paths["html"].write_text(self.html, encoding="utf-8")
        paths["json"].write_text(
            json.dumps(self.data, indent=2, ensure_ascii=False, default=_json_default),
            encoding="utf-8",
        )
        for name, png in self.figures.items():
            target = out / "figures" / f"{stem}_{name}.png"
            target.write_bytes(png)
            paths[name] = target
        return paths


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set):
        return sorted(value)
    return str(value)


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def render(template: str, figures: dict[str, bytes], **context: Any) -> str:
    uris = {name: data_uri(b) for name, b in figures.items()}
    return environment().get_template(template).render(figures=uris, **context)
