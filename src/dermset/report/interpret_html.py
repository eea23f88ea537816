"""The interpretability report: saliency mass in the lesion per structure and category, IoU,
pointing game, and example overlays a reader can check by eye."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from dermset import __version__
from dermset.analysis.interpret import fit_to, read_mask, read_saliency
from dermset.release.reader import Release
from dermset.report.analysis_html import Report, png, render


def mass_figure(groups: list[dict[str, Any]], title: str) -> bytes | None:
    rows = [g for g in groups if g["mass_inside"]["value"] is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.36 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    for yi, g in zip(y, rows, strict=True):
        m = g["mass_inside"]
        low = m["low"] if m["low"] is not None else m["value"]
        high = m["high"] if m["high"] is not None else m["value"]
        ax.plot([low, high], [yi, yi], color="#2b6c9e", lw=1.8)
        ax.plot(m["value"], yi, "o", color="#1d3c5c", ms=5)
        ax.plot(g["area"]["value"], yi, "|", color="#b2182b", ms=12, mew=2)
    ax.plot([], [], "o", color="#1d3c5c", label="saliency mass inside the lesion (95 % CI)")
    ax.plot(
        [],
        [],
        "|",
        color="#b2182b",
        ms=10,
        mew=2,
        label="lesion's share of the image (a uniform map)",
    )
    ax.set_yticks(y, [f"{g['group']} (n={g['images']})" for g in rows], fontsize=8.5)
    ax.set(xlim=(0, 1), xlabel="share", title=title)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.5 / (0.36 * len(rows) + 1.4) - 0.08),
        ncol=2,
        fontsize=7.5,
        frameon=False,
    )
    fig.tight_layout()
    return png(fig)


def examples_figure(result: dict[str, Any], release: Release, folder: Path) -> bytes | None:
    """The three images with the most and the three with the least saliency in the lesion."""
    per = [r for r in result["per_image"] if r["concentration"] is not None]
    if not per:
        return None
    per.sort(key=lambda r: r["concentration"], reverse=True)
    chosen = per[:3] + [r for r in per[-3:] if r not in per[:3]]
    fig, axes = plt.subplots(2, 3, figsize=(10, 7), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    files = {p.stem: p for p in folder.iterdir() if p.is_file()}
    for ax, r in zip(axes.flat, chosen, strict=False):
        image = r["image"]
        if image not in release.image_paths or image not in files:
            continue
        with Image.open(release.image_paths[image]) as im:
            rgb = np.asarray(im.convert("RGB"))
        sal = fit_to(read_saliency(files[image]), rgb.shape[:2])
        ax.imshow(rgb)
        ax.imshow(sal / sal.max(), cmap="inferno", alpha=0.45)
        if image in release.masks:
            mask = read_mask(release.masks[image], rgb.shape[:2])
            ax.contour(mask, levels=[0.5], colors="cyan", linewidths=1.2)
        ax.set_title(
            f"{image} ({r['diagnosis_category']})\nmass in lesion "
            f"{r['mass_inside']:.0%}, lesion area {r['area']:.0%}",
            fontsize=8.5,
        )
    fig.suptitle(
        "Most (top) and least (bottom) lesion-focused maps; cyan: lesion mask", fontsize=10
    )
    fig.tight_layout()
    return png(fig)


def interpret_report(result: dict[str, Any], release: Release, folder: Path) -> Report:
    figures: dict[str, bytes] = {}
    for name, groups, title in (
        ("structures", result["by_structure"], "By dermoscopic structure (annotated present)"),
        ("categories", result["by_category"], "By diagnostic category"),
    ):
        fig = mass_figure(groups, title)
        if fig is not None:
            figures[name] = fig
    fig = examples_figure(result, release, folder)
    if fig is not None:
        figures["examples"] = fig
    html = render("interpret.html.jinja", figures, r=result, version=__version__)
    return Report(html, result, figures)
