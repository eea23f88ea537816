"""The evaluation report: ROC curves, reliability diagrams, confusion matrix, subgroup intervals."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from dermset import __version__
from dermset.report.analysis_html import Report, png, render

_COLOURS = plt.get_cmap("tab10").colors


def roc_figure(result: dict[str, Any]) -> bytes:
    """Per-class ROC curves (left) and malignant vs benign with the ISIC 2024 region (right)."""
    has_mal = bool(result["roc"].get("malignant", {}).get("fpr"))
    fig, axes = plt.subplots(1, 2 if has_mal else 1, figsize=(11 if has_mal else 5.6, 5))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    for i, (code, info) in enumerate(result["per_class"].items()):
        curve = result["roc"].get(code, {})
        if not curve.get("fpr"):
            continue
        auc = info.get("auc", {}).get("value")
        label = f"{code} (AUC {auc:.3f}, n={info['images']})" if auc is not None else code
        ax.plot(curve["fpr"], curve["tpr"], color=_COLOURS[i % 10], lw=1.4, label=label)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    ax.set(
        xlabel="1 − specificity (FPR)",
        ylabel="sensitivity (TPR)",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="One category vs the rest",
    )
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    if has_mal:
        ax = axes[1]
        curve = result["roc"]["malignant"]
        fpr, tpr = np.asarray(curve["fpr"]), np.asarray(curve["tpr"])
        mal = result["malignant"]
        ax.plot(
            fpr,
            tpr,
            color="#b2182b",
            lw=2,
            label=f"malignant vs benign, AUC {mal['auc']['value']:.3f}",
        )
        ax.fill_between(
            fpr,
            0.8,
            np.maximum(tpr, 0.8),
            color="#b2182b",
            alpha=0.18,
            label=f"pAUC above 80 % TPR = {mal['pauc80']['value']:.3f} (max 0.2)",
        )
        ax.axhline(0.8, color="#b2182b", ls="--", lw=0.8)
        for spec, marker in ((80, "o"), (90, "s"), (95, "^")):
            est = mal.get(f"sens_at_spec_{spec}", {})
            if est.get("value") is not None:
                ax.plot(
                    1 - spec / 100,
                    est["value"],
                    marker,
                    color="black",
                    ms=6,
                    label=f"sensitivity at {spec} % specificity: {est['value']:.2f}",
                )
        ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
        ax.set(
            xlabel="1 − specificity (FPR)",
            ylabel="sensitivity (TPR)",
            xlim=(0, 1),
            ylim=(0, 1.01),
            title=f"Malignant ({', '.join(mal['codes'])}) vs benign",
        )
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return png(fig)


def _reliability(ax: Any, hist: Any, bins: list[dict[str, Any]], title: str, xlabel: str) -> None:
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    width = bins[0]["high"] - bins[0]["low"] if bins else 0.1
    filled = [(c, b) for c, b in zip(centres, bins, strict=True) if b["observed"] is not None]
    ax.bar(
        [c for c, _ in filled],
        [b["observed"] for _, b in filled],
        width=width * 0.92,
        color="#4878a8",
        alpha=0.85,
        label="observed frequency",
    )
    ax.plot(
        [c for c, _ in filled],
        [b["confidence"] for _, b in filled],
        "_",
        color="#d6604d",
        ms=14,
        mew=2.5,
        label="mean predicted probability",
    )
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), title=title, ylabel="observed frequency")
    ax.legend(loc="upper left", fontsize=8)
    hist.bar(centres, [b["images"] for b in bins], width=width * 0.92, color="#888888")
    hist.set(xlim=(0, 1), xlabel=xlabel, ylabel="images")


def reliability_figure(result: dict[str, Any]) -> bytes:
    cal = result["calibration"]
    panels = 2 if cal["malignant_bins"] else 1
    fig, axes = plt.subplots(
        2,
        panels,
        figsize=(5.4 * panels, 5.6),
        sharex="col",
        gridspec_kw={"height_ratios": [3, 1]},
        squeeze=False,
    )
    ece = result["overall"]["ece"]["value"]
    _reliability(
        axes[0, 0],
        axes[1, 0],
        cal["bins"],
        f"Top label (ECE {ece:.3f})",
        "confidence of the predicted category",
    )
    if panels == 2:
        mece = result["malignant"]["ece"]["value"]
        _reliability(
            axes[0, 1],
            axes[1, 1],
            cal["malignant_bins"],
            f"Malignancy (ECE {mece:.3f})",
            "predicted probability of malignancy",
        )
    fig.tight_layout()
    return png(fig)


def confusion_figure(result: dict[str, Any]) -> bytes:
    conf = result["confusion"]
    counts = np.asarray(conf["counts"], dtype=float)
    show_undecided = counts[:, -1].sum() > 0
    if not show_undecided:
        counts = counts[:, :-1]
    predicted = conf["predicted"] if show_undecided else conf["predicted"][:-1]
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    k = len(conf["truth"])
    fig, ax = plt.subplots(figsize=(1.0 + 0.72 * len(predicted), 1.0 + 0.62 * k))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(len(predicted)):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}\n{100 * share[i, j]:.0f}%",
                ha="center",
                va="center",
                fontsize=7.5,
                color=colour,
            )
    ax.set_xticks(range(len(predicted)), predicted, rotation=45, ha="right")
    ax.set_yticks(range(k), conf["truth"])
    ax.set(
        xlabel="predicted (argmax)",
        ylabel="verified diagnosis",
        title="Confusion matrix (row %: recall)",
    )
    fig.tight_layout()
    return png(fig)


def subgroup_figure(result: dict[str, Any], metric: str, label: str) -> bytes | None:
    """Forest plot of one metric with its interval in every subgroup."""
    rows = []
    for info in result["subgroups"].values():
        for g in info["groups"]:
            est = g["metrics"].get(metric)
            if est and est.get("value") is not None:
                rows.append((f"{info['title']}: {g['value']} (n={g['images']})", est))
    if not rows:
        return None
    overall = result["headline"].get(metric, {}).get("value")
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for yi, (_, est) in zip(y, rows, strict=True):
        low = est["low"] if est["low"] is not None else est["value"]
        high = est["high"] if est["high"] is not None else est["value"]
        ax.plot([low, high], [yi, yi], color="#4878a8", lw=1.6)
        ax.plot(est["value"], yi, "s", color="#1d3c5c", ms=4)
    if overall is not None:
        ax.axvline(overall, color="#b2182b", ls="--", lw=1, label="all images")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.set(xlabel=f"{label} (95 % CI)", xlim=(0, 1.02), title=f"{label} by subgroup")
    fig.tight_layout()
    return png(fig)


def evaluation_report(result: dict[str, Any]) -> Report:
    figures = {
        "roc": roc_figure(result),
        "reliability": reliability_figure(result),
        "confusion": confusion_figure(result),
    }
    for metric, label, name in (
        ("overall/balanced_accuracy", "balanced accuracy", "subgroups_bacc"),
        ("malignant/auc", "malignant vs benign AUC", "subgroups_auc"),
    ):
        fig = subgroup_figure(result, metric, label)
        if fig is not None:
            figures[name] = fig
    html = render("evaluation.html.jinja", figures, r=result, version=__version__)
    return Report(html, result, figures)
