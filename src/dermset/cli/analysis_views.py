"""Terminal views of evaluate, shift and interpret results (rich tables, plain words)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from dermset.cli.common import console
from dermset.report.analysis_html import fmt, interval, pct, pvalue


def headline_table(result: dict[str, Any], title: str) -> Table:
    t = Table(title=title, show_edge=False)
    t.add_column("metric")
    t.add_column("value (95 % CI)", justify="right")
    for est in result["headline"].values():
        t.add_row(est["label"], interval(est))
    return t


def show_evaluation(result: dict[str, Any]) -> None:
    src = result["source"]
    what = src.get("release") or src.get("truth")
    console.print(
        f"[bold]{what}[/] · {src['predictions']} · {src['images']} images, "
        f"{src['clusters']} {src['cluster_unit']} clusters"
    )
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    t = Table(title="Headline (95 % CI, cluster bootstrap)", show_edge=False)
    t.add_column("metric")
    t.add_column("value (95 % CI)", justify="right")
    for est in result["headline"].values():
        t.add_row(est["label"], interval(est))
    console.print(t)
    t = Table(title="Per category (sensitivity … NPV: p > 0.5 calls)", show_edge=False)
    for col in ("category", "images", "sens", "spec", "PPV", "NPV", "AUC (95 % CI)", "AP"):
        t.add_column(col, justify="left" if col == "category" else "right", no_wrap=True)
    for code, c in result["per_class"].items():
        t.add_row(
            code,
            str(c["images"]),
            *(
                interval({"value": (c.get(m) or {}).get("value")}, 2)
                for m in ("sensitivity", "specificity", "ppv", "npv")
            ),
            interval(c.get("auc"), 2),
            interval({"value": (c.get("ap") or {}).get("value")}, 2),
        )
    console.print(t)
    for info in result["subgroups"].values():
        t = Table(title=f"By {info['title']}", show_edge=False)
        for col in ("group", "images", "balanced accuracy", "malignant AUC"):
            t.add_column(col, justify="left" if col == "group" else "right")
        for g in info["groups"]:
            t.add_row(
                g["value"],
                str(g["images"]),
                interval(g["metrics"].get("overall/balanced_accuracy"), 2),
                interval(g["metrics"].get("malignant/auc"), 2),
            )
        console.print(t)


def _g(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def show_shift(result: dict[str, Any]) -> None:
    a, b = result["a"]["name"], result["b"]["name"]
    console.print(f"release   [bold]{a}[/] ({result['a']['images']} images)")
    console.print(f"reference [bold]{b}[/] ({result['b']['images']} images)")
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    ls = result["label_shift"]
    t = Table(title="Label shift (share of labelled images)", show_edge=False)
    for col in ("category", "release", "reference", "difference"):
        t.add_column(col, justify="left" if col == "category" else "right")
    for c in ls["categories"]:
        t.add_row(
            f"{c['code']} {c['name']}",
            pct(c["a_share"]),
            pct(c["b_share"]),
            f"{fmt(c['difference_pp'], 1)} pp",
        )
    console.print(t)
    console.print(
        f"labelled images: {ls['a_labelled']} (release) vs {ls['b_labelled']} (reference)"
    )
    console.print(
        f"total variation {fmt(ls['total_variation'])}, Cramér's V "
        f"{fmt(ls['cramers_v'])}, p = {pvalue(ls['p_value'])} ({ls['test']})"
    )
    t = Table(title="Covariate shift", show_edge=False)
    for col in ("field", "unit", "missing", "effect size", "p (Holm)"):
        t.add_column(
            col,
            justify="left" if col in ("field", "unit") else "right",
            no_wrap=col in ("missing", "effect size"),
        )
    for c in result["covariates"]:
        if not c["comparable"]:
            effect = "not in the " + (
                "reference"
                if c["b_missing"] == 1 and c["a_missing"] < 1
                else "release"
                if c["a_missing"] == 1 and c["b_missing"] < 1
                else "data"
            )
        elif c["kind"] == "numeric":
            effect = f"SMD {fmt(c['smd'], 2)}"
        else:
            effect = f"V {fmt(c['cramers_v'], 2)}, TVD {fmt(c['total_variation'], 2)}"
        t.add_row(
            c["title"],
            c["unit"],
            f"{pct(c['a_missing'], 0)} / {pct(c['b_missing'], 0)}",
            effect,
            pvalue(c.get("p_holm")),
        )
    console.print(t)
    images = result.get("images")
    if images:
        t = Table(title="Image statistics", show_edge=False)
        for col in ("statistic", "median", "SMD", "p (Holm)"):
            t.add_column(col, justify="left" if col == "statistic" else "right")
        for s in images["statistics"]:
            t.add_row(
                s["statistic"],
                f"{_g(s['a_median'])} vs {_g(s['b_median'])}",
                fmt(s["smd"], 2),
                pvalue(s["p_holm"]),
            )
        console.print(t)
        c = images["classifier_test"]
        console.print(
            f"classifier two-sample test: out-of-fold AUC {fmt(c['statistic'])}, "
            f"p = {pvalue(c['p_value'])} ({c['permutations']} permutations)"
        )
    if result.get("embeddings"):
        e = result["embeddings"]
        console.print(f"embeddings: MMD² {fmt(e['statistic'], 5)}, p = {pvalue(e['p_value'])}")


def show_interpretation(result: dict[str, Any]) -> None:
    console.print(
        f"[bold]{result['release']}[/]: {result['images_scored']} of "
        f"{result['images_in_release']} images have a saliency map "
        f"({', '.join(f'{v} {k}' for k, v in result['lesion_regions'].items())} "
        "lesion regions)"
    )
    for p in result["problems"][:10]:
        console.print(f"[yellow]{p['file']}[/]: {p['message']}")
    for title, groups in (
        ("All images", [result["overall"]]),
        ("By structure (annotated present)", result["by_structure"]),
        ("By category", result["by_category"]),
    ):
        if not groups:
            continue
        t = Table(title=title, show_edge=False)
        for col in ("group", "n", "mass in lesion", "area", "IoU", "pointing"):
            t.add_column(col, justify="left" if col == "group" else "right", no_wrap=True)
        for g in groups:
            t.add_row(
                g["group"],
                str(g["images"]),
                interval(g["mass_inside"], 2),
                interval({"value": g["area"]["value"]}, 2),
                interval({"value": g["iou"]["value"]}, 2),
                interval({"value": g["pointing"]["value"]}, 2),
            )
        console.print(t)
