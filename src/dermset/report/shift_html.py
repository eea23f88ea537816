"""The shift report: label shares, covariate distributions, image statistics, two-sample tests."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from dermset import __version__
from dermset.analysis.image_stats import STATISTICS
from dermset.report.analysis_html import Report, png, render

A_COLOUR, B_COLOUR = "#2b6c9e", "#e08a2e"


def label_figure(result: dict[str, Any]) -> bytes:
    rows = result["label_shift"]["categories"]
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.3))
    a = [100 * (r["a_share"] or 0) for r in rows]
    b = [100 * (r["b_share"] or 0) for r in rows]
    ax.barh(y + 0.2, a, 0.4, color=A_COLOUR, label=result["a"]["name"])
    ax.barh(y - 0.2, b, 0.4, color=B_COLOUR, label=result["b"]["name"])
    for yi, va, vb in zip(y, a, b, strict=True):
        ax.text(va + 0.5, yi + 0.2, f"{va:.1f} %", va="center", fontsize=7.5)
        ax.text(vb + 0.5, yi - 0.2, f"{vb:.1f} %", va="center", fontsize=7.5)
    ax.set_yticks(y, [f"{r['code']} {r['name']}" for r in rows], fontsize=8.5)
    ax.set(
        xlabel="share of labelled images (%)",
        xlim=(0, max(a + b + [1]) * 1.18),
        title="Diagnostic categories",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return png(fig)


def _units(unit: str) -> str:
    return " / ".join(u.strip() + "s" for u in unit.split("/"))


def covariate_figure(result: dict[str, Any]) -> bytes | None:
    fields = [c for c in result["covariates"] if c.get("comparable")]
    if not fields:
        return None
    cols = 2
    rows = (len(fields) + 1) // 2
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(fields) :]:
        ax.axis("off")
    for ax, f in zip(axes.flat, fields, strict=False):
        if f["kind"] == "numeric" and f.get("histogram"):
            h = f["histogram"]
            edges = np.asarray(h["edges"])
            for key, colour, name in (
                ("a", A_COLOUR, result["a"]["name"]),
                ("b", B_COLOUR, result["b"]["name"]),
            ):
                counts = np.asarray(h[key], float)
                share = counts / counts.sum() if counts.sum() else counts
                ax.stairs(100 * share, edges, color=colour, lw=1.8, label=name)
            ax.set(xlabel=f["title"], ylabel=f"% ({_units(f['unit'])})")
        else:
            values = f["values"][:12]
            x = np.arange(len(values))
            ax.bar(
                x - 0.2,
                [100 * (v["a_share"] or 0) for v in values],
                0.4,
                color=A_COLOUR,
                label=result["a"]["name"],
            )
            ax.bar(
                x + 0.2,
                [100 * (v["b_share"] or 0) for v in values],
                0.4,
                color=B_COLOUR,
                label=result["b"]["name"],
            )
            ax.set_xticks(x, [v["value"] for v in values], rotation=30, ha="right", fontsize=8)
            ax.set(ylabel=f"% of {_units(f['unit'])} with a value")
        effect = (
            f"SMD {f['smd']:.2f}"
            if f["kind"] == "numeric" and f.get("smd") is not None
            else f"Cramér's V {f['cramers_v']:.2f}"
            if f.get("cramers_v") is not None
            else ""
        )
        ax.set_title(
            f"{f['title']} ({effect}; missing {100 * f['a_missing']:.0f} % / "
            f"{100 * f['b_missing']:.0f} %)",
            fontsize=9.5,
        )
        ax.legend(fontsize=7.5)
    fig.tight_layout()
    return png(fig)


def image_figure(result: dict[str, Any]) -> bytes | None:
    images = result.get("images")
    if not images:
        return None
    names = list(STATISTICS)
    values = images["values"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4))
    sides = ((result["a"]["name"], A_COLOUR), (result["b"]["name"], B_COLOUR))
    by_name = {s["statistic"]: s for s in images["statistics"]}
    for ax, name in zip(axes.flat, names, strict=True):
        data = [np.asarray(values[side][name], float) for side, _ in sides]
        data = [d[np.isfinite(d)] for d in data]
        both = np.concatenate(data) if any(len(d) for d in data) else np.zeros(1)
        title, unit = STATISTICS[name]
        if np.ptp(both) == 0:  # nothing to draw: say so instead of a bar of zero width
            ax.text(
                0.5,
                0.5,
                f"every image: {both[0]:.3g} {unit}",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_title(f"{title}\nno variation", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        edges = np.histogram_bin_edges(both, bins=30)
        for d, (side, colour) in zip(data, sides, strict=True):
            if len(d):
                ax.hist(
                    d,
                    bins=edges,
                    density=True,
                    histtype="step",
                    lw=1.8,
                    color=colour,
                    label=f"{side} (median {np.median(d):.2f})",
                )
        s = by_name[name]
        effect = f"SMD {s['smd']:.2f}" if s.get("smd") is not None else ""
        ax.set_title(f"{title}\n{effect}", fontsize=9)
        ax.set_xlabel(unit or name, fontsize=8)
        ax.set_yticks([])
        ax.legend(fontsize=7)
    fig.tight_layout()
    return png(fig)


def null_figure(result: dict[str, Any]) -> bytes | None:
    panels = []
    if result.get("images"):
        c = result["images"]["classifier_test"]
        panels.append(("Classifier two-sample test (out-of-fold AUC)", c))
    if result.get("embeddings"):
        panels.append(("Embeddings: MMD² (Gaussian kernel)", result["embeddings"]))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 3.4), squeeze=False)
    for ax, (title, test) in zip(axes.flat, panels, strict=True):
        ax.hist(test["null"], bins=30, color="#999999", label="permutation null")
        ax.axvline(
            test["statistic"],
            color="#b2182b",
            lw=2,
            label=f"observed {test['statistic']:.3g} (p = {test['p_value']:.3g})",
        )
        ax.set(title=title, xlabel="statistic", ylabel="permutations")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def shift_report(result: dict[str, Any]) -> Report:
    figures: dict[str, bytes] = {"labels": label_figure(result)}
    for name, fn in (
        ("covariates", covariate_figure),
        ("images", image_figure),
        ("tests", null_figure),
    ):
        fig = fn(result)
        if fig is not None:
            figures[name] = fig
    html = render("shift.html.jinja", figures, r=result, version=__version__)
    data = dict(result)
    if data.get("images"):  # the per-image values stay in the figures, not the JSON
        data["images"] = {k: v for k, v in data["images"].items() if k != "values"}
    return Report(html, data, figures)
