"""The report's figures (matplotlib, PNG and SVG), each drawn from ``stats.json`` alone.

Where people would rather look than read: the flow from records to unique images (drawn like a
study flow diagram), categories with benign/malignant and histological verification, age by sex,
anatomic sites, the verification funnel, reviewer agreement, structures per category and the SOP
measures against their limits. A figure whose data the registry does not have (no reviews, no
SOP measures) is left out rather than drawn empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from dermset.report.dataset_stats import exclusions, plural

MALIGNANCY_COLOURS = {"benign": "#4C72B0", "malignant": "#C44E52", "indeterminate": "#DD8452"}
SEX_COLOURS = {"female": "#8172B3", "male": "#55A868", "missing": "#B0B0B0"}
MISSING_COLOUR = "#B0B0B0"
plt.rcParams.update(
    {
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.fonttype": "none",  # text stays text in the SVG (searchable, small)
        "svg.hashsalt": "dermset",  # identical SVG for identical stats
    }
)


@dataclass(frozen=True)
class FigureFile:
    name: str
    title: str
    caption: str
    png: Path
    svg: Path


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour: str) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.012,rounding_size=0.02",
            facecolor=colour,
            edgecolor="#333333",
            linewidth=1.0,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=10, wrap=True)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate(
        "", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.2}
    )


def flow_figure(stats: dict[str, Any]) -> Figure:
    """Records → each exclusion → unique images, like a study's flow diagram."""
    f = stats["flow"]
    patients = stats["cohort"]["patients"]
    excluded = exclusions(f)
    steps = len(excluded)
    height = 1.1 + 1.1 * steps + (0.35 if f.get("quarantined_files") else 0)
    fig = Figure(figsize=(7.2, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, height)
    ax.axis("off")
    x_main, x_side, w_main, w_side, h = 0.3, 0.76, 0.42, 0.42, 0.55
    y = height - 0.5
    remaining = f["records"]
    _box(ax, x_main, y, w_main, h, plural(remaining, "image record", "image records"), "#E8EEF7")
    for i, (n, text) in enumerate(excluded):
        y_next = y - 1.1
        y_mid = (y + y_next) / 2
        ax.plot([x_main, x_main], [y - h / 2, y_mid], color="#333333", lw=1.2)
        _arrow(ax, (x_main, y_mid), (x_side - w_side / 2, y_mid))
        _box(ax, x_side, y_mid, w_side, h * 0.8, text, "#F7E8E8")
        _arrow(ax, (x_main, y_mid), (x_main, y_next + h / 2))
        remaining -= n
        y = y_next
        last = i == steps - 1
        label = (
            plural(f["unique_images"], "unique image", "unique images")
            + ("\nof " + plural(patients, "patient", "patients") if patients else "")
            if last
            else plural(remaining, "record", "records")
        )
        _box(ax, x_main, y, w_main, h, label, "#E3F1E4" if last else "#E8EEF7")
    if f.get("quarantined_files"):
        ax.text(
            0.05,
            0.1,
            f"Not counted above: {f['quarantined_files']:,} files could not be read "
            "and are in quarantine.",
            fontsize=8.5,
            color="#555555",
        )
    return fig


def categories_figure(stats: dict[str, Any]) -> Figure:
    """Images per category, coloured by malignancy; the histologically verified part hatched."""
    rows = stats["diagnosis"]["categories"]
    fig = Figure(figsize=(7.2, 0.42 * len(rows) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    images = [r["images"] for r in rows]
    histo = [r["histopathology_images"] for r in rows]
    colours = [MALIGNANCY_COLOURS.get(r["malignancy"], MISSING_COLOUR) for r in rows]
    ax.barh(y, images, color=colours, edgecolor="white")
    ax.barh(y, histo, color="none", edgecolor="#222222", hatch="///", linewidth=0)
    ax.set_yticks(y, [f"{r['code']}  {r['name']}" for r in rows])
    ax.set_xlabel("images")
    top = max([*images, 1])
    for yi, n, h_n in zip(y, images, histo, strict=True):
        label = f"{n:,}" + (f"  ({h_n:,} histopathology)" if h_n else "")
        ax.text(n + top * 0.01, yi, label, va="center", fontsize=8.5)
    ax.set_xlim(0, top * 1.45)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=c, label=k) for k, c in MALIGNANCY_COLOURS.items()
    ] + [
        plt.Rectangle(
            (0, 0),
            1,
            1,
            facecolor="white",
            edgecolor="#222222",
            hatch="///",
            label="histologically verified",
        )
    ]
    ax.legend(handles=handles, loc="lower right", frameon=False, fontsize=8.5)
    ax.set_title("Diagnostic categories")
    fig.tight_layout()
    return fig


def age_figure(stats: dict[str, Any]) -> Figure | None:
    """Age (5-year ISIC bins) by sex, side by side."""
    by_sex = stats["age"]["by_sex"]
    if not stats["age"]["known"]:
        return None
    ages = sorted({int(a) for counts in by_sex.values() for a in counts})
    bins = list(range(0, max(ages) + 5, 5))
    sexes = [s for s in ("female", "male", "missing") if by_sex.get(s)]
    fig = Figure(figsize=(7.2, 3.4))
    ax = fig.add_subplot()
    width = 4.2 / max(len(sexes), 1)
    for i, sex in enumerate(sexes):
        counts = [by_sex[sex].get(str(a), 0) for a in bins]
        offset = (i - (len(sexes) - 1) / 2) * width
        ax.bar(
            np.array(bins) + offset,
            counts,
            width=width,
            color=SEX_COLOURS[sex],
            label=f"{sex} ({sum(counts):,})",
        )
    a = stats["age"]
    ax.set_xlabel("age_approx (years; ISIC: nearest 5, 85 = 85 or older)")
    ax.set_ylabel("images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(bins[:: 2 if len(bins) > 12 else 1])
    ax.set_title(
        f"Age by sex: median {a['median']:g}, IQR {a['q1']:g}–{a['q3']:g}, "
        f"range {a['min']}–{a['max']}" + (f"; {a['missing']:,} unknown" if a["missing"] else "")
    )
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def _share(n: int, total: int) -> str:
    pct = 100 * n / total
    return f"{pct:.1f} %" if 0 < pct < 1 else f"{pct:.0f} %"


def _bars(counts: dict[str, int], title: str, xlabel: str) -> Figure:
    items = list(counts.items())
    fig = Figure(figsize=(7.2, 0.38 * len(items) + 1.1))
    ax = fig.add_subplot()
    y = np.arange(len(items))[::-1]
    values = [n for _, n in items]
    colours = [MISSING_COLOUR if k == "missing" else "#4C72B0" for k, _ in items]
    ax.barh(y, values, color=colours)
    ax.set_yticks(y, [k for k, _ in items])
    total = sum(values) or 1
    for yi, n in zip(y, values, strict=True):
        ax.text(
            n + max(values) * 0.01,
            yi,
            f"{n:,} ({_share(n, total)})",
            va="center",
            fontsize=8.5,
        )
    ax.set_xlim(0, max([*values, 1]) * 1.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def sites_figure(stats: dict[str, Any]) -> Figure | None:
    counts = stats["anatom_site_general"]
    return _bars(counts, "Anatomic site", "images") if counts else None


def funnel_figure(stats: dict[str, Any]) -> Figure:
    """How many images reached each verification step."""
    fn = stats["verification"]["funnel"]
    steps = [
        ("in the dataset", fn["images"]),
        ("stage 1: clinical annotation", fn["clinical_annotation"]),
        ("stage 2: all reviews in", fn["reviews_complete"]),
        ("stage 2: consensus or adjudicated", fn["consensus"] + fn["adjudicated"]),
        ("stage 3: histopathology", fn["histopathology_stage"]),
    ]
    fig = Figure(figsize=(7.2, 3.2))
    ax = fig.add_subplot()
    y = np.arange(len(steps))[::-1]
    total = max(fn["images"], 1)
    values = [n for _, n in steps]
    lefts = [(total - n) / 2 for n in values]
    ax.barh(y, values, left=lefts, color=["#8C8C8C", "#64B5CD", "#4C72B0", "#3A5A8C", "#C44E52"])
    for yi, (label, n), _left in zip(y, steps, lefts, strict=True):
        ax.text(
            total / 2,
            yi,
            f"{n:,}" if n else "0 (none recorded)",
            ha="center",
            va="center",
            color="white" if n > 0.08 * total else "#333333",
            fontweight="bold",
            fontsize=9,
        )
        ax.text(-0.02 * total, yi, label, ha="right", va="center", fontsize=9)
    ax.set_xlim(-0.02 * total, total * 1.02)
    ax.axis("off")
    ax.set_title("Verification funnel (images)")
    stages = ", ".join(f"{k} {v:,}" for k, v in stats["verification"]["by_stage"].items())
    fig.text(0.5, 0.02, f"label confirmed by: {stages}", ha="center", fontsize=8.5)
    fig.subplots_adjust(left=0.36, right=0.98, top=0.88, bottom=0.12)
    return fig


def agreement_figure(stats: dict[str, Any]) -> Figure | None:
    """Cohen's kappa between reviewers, and every review against the final label."""
    ag = stats.get("agreement")
    if not ag or not ag.get("review_vs_final"):
        return None
    reviewers = ag["reviewers"]
    k = np.full((len(reviewers), len(reviewers)), np.nan)
    idx = {r: i for i, r in enumerate(reviewers)}
    for pair in ag["pairwise_cohen_kappa"]:
        if pair["kappa"] is not None:
            i, j = idx[pair["a"]], idx[pair["b"]]
            k[i, j] = k[j, i] = pair["kappa"]
    np.fill_diagonal(k, 1.0)
    cm = ag["review_vs_final"]
    labels = cm["labels"]
    matrix = np.array(cm["matrix"], dtype=float)
    keep = [i for i in range(len(labels)) if matrix[i].sum() or matrix[:, i].sum()]
    matrix = matrix[np.ix_(keep, keep)]
    labels = [labels[i] for i in keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = matrix / matrix.sum(axis=1, keepdims=True)
    fig = Figure(figsize=(10, 4.4))
    a1, a2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    im = a1.imshow(k, vmin=0, vmax=1, cmap="viridis")
    a1.set_xticks(range(len(reviewers)), reviewers, rotation=40, ha="right")
    a1.set_yticks(range(len(reviewers)), reviewers)
    for i in range(len(reviewers)):
        for j in range(len(reviewers)):
            if not np.isnan(k[i, j]):
                a1.text(
                    j,
                    i,
                    f"{k[i, j]:.2f}",
                    ha="center",
                    va="center",
                    color="white" if k[i, j] < 0.6 else "black",
                    fontsize=9,
                )
    a1.set_title(
        f"Cohen's κ between reviewers\nFleiss' κ {ag['fleiss_kappa']}, {ag['n_images']:,} images"
    )
    fig.colorbar(im, ax=a1, fraction=0.046, pad=0.04)
    im2 = a2.imshow(share, vmin=0, vmax=1, cmap="Blues")
    a2.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    a2.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                a2.text(
                    j,
                    i,
                    f"{int(matrix[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black",
                )
    a2.set_xlabel("reviewer's diagnosis")
    a2.set_ylabel("final label")
    a2.set_title("Every review against the final label\n(counts; colour: share of the row)")
    fig.colorbar(im2, ax=a2, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def structures_figure(stats: dict[str, Any]) -> Figure | None:
    """Share of each category's images in which a structure was seen."""
    st = stats["structures"]
    if not st["structures"]:
        return None
    cats = [c for c, v in st["by_category"].items() if v["images"]]
    names = st["structures"]
    share = np.array(
        [
            [
                st["by_category"][c]["counts"].get(s, 0) / st["by_category"][c]["images"]
                for c in cats
            ]
            for s in names
        ]
    )
    fig = Figure(figsize=(7.2, 0.32 * len(names) + 1.8))
    ax = fig.add_subplot()
    im = ax.imshow(share, vmin=0, vmax=1, cmap="Purples", aspect="auto")
    ax.set_xticks(
        range(len(cats)), [f"{c}\n(n={st['by_category'][c]['images']})" for c in cats], fontsize=8
    )
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=8.5)
    for i in range(len(names)):
        for j in range(len(cats)):
            if share[i, j]:
                ax.text(
                    j,
                    i,
                    f"{100 * share[i, j]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="white" if share[i, j] > 0.6 else "black",
                )
    ax.set_title("Dermoscopic structures per category (% of images)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def quality_figure(stats: dict[str, Any]) -> Figure | None:
    """Each SOP measure's distribution over all measured records, with its warn and fail limit."""
    checks = {k: v for k, v in stats["quality"]["checks"].items() if v.get("histogram")}
    if not checks:
        return None
    n = len(checks)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(3.4 * cols, 2.5 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (name, c) in zip(axes, checks.items(), strict=False):
        edges = np.array(c["histogram"]["edges"], dtype=float)
        ax.stairs(c["histogram"]["counts"], edges, fill=True, color="#4C72B0", alpha=0.8)
        if "warn_limit" in c:
            ax.axvline(c["warn_limit"], color="#DD8452", ls="--", lw=1.2, label="warn")
            ax.axvline(c["fail_limit"], color="#C44E52", ls="-", lw=1.2, label="fail")
        ax.set_title(
            f"{name.replace('_', ' ')}\npass {c['pass']:,} · warn {c['warn']:,} · "
            f"fail {c['fail']:,}",
            fontsize=9,
        )
        ax.tick_params(labelsize=8)
    for ax in axes[n:]:
        ax.axis("off")
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle("Acquisition SOP measures (all measured records)", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES: list[tuple[str, str, str, Callable[[dict[str, Any]], Figure | None]]] = [
    (
        "flow",
        "From records to unique images",
        "Every image record and why it left the dataset.",
        flow_figure,
    ),
    (
        "categories",
        "Diagnostic categories",
        "Images per category; colour: benign, indeterminate or malignant; hatched: confirmed by "
        "histopathology.",
        categories_figure,
    ),
    ("age_sex", "Age by sex", "age_approx of each image, by the sex recorded with it.", age_figure),
    ("sites", "Anatomic sites", "General anatomic site of each image's lesion.", sites_figure),
    (
        "verification_funnel",
        "Verification funnel",
        "Images that reached each stage of the verification workflow.",
        funnel_figure,
    ),
    (
        "agreement",
        "Inter-rater agreement",
        "Left: Cohen's kappa of each pair of reviewers. Right: each review against the image's "
        "final label.",
        agreement_figure,
    ),
    (
        "structures",
        "Structures per category",
        "Share of each category's images in which the final annotation records a structure.",
        structures_figure,
    ),
    (
        "quality",
        "SOP quality measures",
        "Distribution of each acquisition check over every measured record, excluded ones "
        "included; dashed: warn limit, solid: fail limit.",
        quality_figure,
    ),
]


def render_figures(stats: dict[str, Any], out_dir: Path) -> list[FigureFile]:
    """Draw every figure the stats support into *out_dir* as PNG and SVG."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for name, title, caption, draw in FIGURES:
        fig = draw(stats)
        if fig is None:
            continue
        png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
        fig.savefig(png, dpi=150, metadata={"Software": None})
        fig.savefig(svg, metadata={"Date": None, "Creator": None})
        made.append(FigureFile(name, title, caption, png, svg))
    return made
