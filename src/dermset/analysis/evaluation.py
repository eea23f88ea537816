"""Evaluating a model's predictions against verified labels, with patient-level intervals.

``evaluate(data)`` computes every metric once on all images (the point estimate) and on each
cluster-bootstrap replicate, then repeats the headline metrics inside every subgroup with the
subgroup's own bootstrap. ``EvalData`` is built by ``analysis.evaluation_inputs`` from a release
or from an ISIC ground-truth file.

When the model predicts only some of the categories (a 7-class HAM10000 model on the nine
categories), the multiclass metrics use the categories it covers and the images whose truth is
one of them; the malignant-vs-benign metrics use every image, the model's malignancy score being
the summed probability of the malignant categories it predicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from dermset.analysis.bootstrap import Clusters, percentile_interval, replicate_weights
from dermset.analysis.calibration import Binned
from dermset.analysis.metrics import (
    BinaryCurve,
    Linear,
    argmax_labels,
    balanced_accuracy,
    binary_features,
    binary_rates,
    confusion,
    confusion_features,
)
from dermset.analysis.subgroups import SUBGROUP_FIELDS, ordered_values, subgroup_labels

#: The products here are small (clusters × metrics × a few hundred replicates). With OpenBLAS's
#: default threads they ran 20-70× slower on a loaded 2-core machine (spinning threads waiting
#: for a busy core); one thread was fastest in every shape we measured, so evaluate() pins it.
SPECIFICITIES = (0.80, 0.90, 0.95)
PARTIAL_AUC_MIN_TPR = 0.80
HEADLINE = (
    ("overall/balanced_accuracy", "balanced multiclass accuracy"),
    ("malignant/auc", "malignant vs benign ROC AUC"),
    ("malignant/pauc80", "partial AUC above 80 % TPR (ISIC 2024, max 0.2)"),
    ("malignant/sens_at_spec_90", "sensitivity at 90 % specificity"),
    ("malignant/sensitivity", "malignant sensitivity (p > 0.5)"),
    ("malignant/specificity", "malignant specificity (p > 0.5)"),
    ("overall/ece", "expected calibration error (top label)"),
)
SUBGROUP_METRICS = (
    "overall/balanced_accuracy",
    "malignant/auc",
    "malignant/sensitivity",
    "malignant/specificity",
)


@dataclass
class EvalData:
    """Truth, predictions and covariates, aligned row by row."""

    images: list[str]
    codes: list[str]
    names: dict[str, str]
    labels: np.ndarray  # index into codes
    probabilities: np.ndarray  # images × codes
    covered: list[str]
    malignant: set[str]
    clusters: Clusters
    covariates: pd.DataFrame | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def subset(self, rows: np.ndarray) -> EvalData:
        codes, _ = pd.factorize(self.clusters.index[rows])
        return EvalData(
            [self.images[i] for i in rows],
            self.codes,
            self.names,
            self.labels[rows],
            self.probabilities[rows],
            self.covered,
            self.malignant,
            Clusters(np.asarray(codes, dtype=int), self.clusters.unit),
            None if self.covariates is None else self.covariates.iloc[rows],
        )


class MetricSuite:
    """Everything that does not depend on the weights, computed once."""

    def __init__(self, data: EvalData, full: bool = True):
        self.full = full
        self.codes = data.covered
        n_clusters = data.clusters.count
        self.n_clusters = n_clusters
        cov_idx = [data.codes.index(c) for c in self.codes]
        remap = {old: new for new, old in enumerate(cov_idx)}
        mc_rows = np.flatnonzero(np.isin(data.labels, cov_idx))
        self.mc_images = len(mc_rows)
        cl = data.clusters.index[mc_rows]
        labels = np.asarray([remap[int(x)] for x in data.labels[mc_rows]], dtype=int)
        probs = data.probabilities[np.ix_(mc_rows, cov_idx)]
        k = len(self.codes)
        self.labels = labels
        self.predicted = argmax_labels(probs) if len(probs) else labels
        self.confusion = Linear(confusion_features(labels, self.predicted, k), cl, n_clusters)
        truth_hot = labels[:, None] == np.arange(k)
        self.class_counts = Linear(binary_features(truth_hot, probs > 0.5), cl, n_clusters)
        self.curves = [BinaryCurve(truth_hot[:, j], probs[:, j], cl) for j in range(k)]
        top = probs.max(axis=1) if len(probs) else np.zeros(0)
        self.top_label = Binned(top, self.predicted == labels, cl, n_clusters)
        mal_idx = [data.codes.index(c) for c in data.covered if c in data.malignant]
        self.has_malignant = bool(mal_idx)
        self.mal_truth = np.isin(data.labels, [data.codes.index(c) for c in data.malignant])
        self.mal_score = np.clip(data.probabilities[:, mal_idx].sum(axis=1), 0.0, 1.0)
        allc = data.clusters.index
        self.mal_counts = Linear(
            binary_features(self.mal_truth[:, None], self.mal_score[:, None] > 0.5),
            allc,
            n_clusters,
        )
        self.mal_curve = BinaryCurve(self.mal_truth, self.mal_score, allc)
        self.mal_binned = Binned(self.mal_score, self.mal_truth, allc, n_clusters)

    def compute(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric for each column of *counts* (clusters × replicates)."""
        out: dict[str, np.ndarray] = {}
        k = len(self.codes)
        out["overall/balanced_accuracy"] = balanced_accuracy(confusion(self.confusion(counts), k))
        if self.has_malignant:
            for name, values in binary_rates(self.mal_counts(counts)).items():
                out[f"malignant/{name}"] = values[0]
            sums = self.mal_curve.sums(counts)
            out["malignant/auc"] = sums.auc()
        if not self.full:
            return out
        out["overall/ece"] = self.top_label.ece(counts)
        if self.has_malignant:
            out["malignant/ap"] = sums.average_precision()
            out["malignant/pauc80"] = sums.partial_auc_above_tpr(PARTIAL_AUC_MIN_TPR)
            for spec in SPECIFICITIES:
                key = f"malignant/sens_at_spec_{round(spec * 100)}"
                out[key] = sums.sensitivity_at_specificity(spec)
            out["malignant/ece"] = self.mal_binned.ece(counts)
        rates = binary_rates(self.class_counts(counts))
        for j, code in enumerate(self.codes):
            for name, values in rates.items():
                out[f"{code}/{name}"] = values[j]
            sums = self.curves[j].sums(counts)
            out[f"{code}/auc"] = sums.auc()
            out[f"{code}/ap"] = sums.average_precision()
            out[f"{code}/pauc80"] = sums.partial_auc_above_tpr(PARTIAL_AUC_MIN_TPR)
        return out


def _estimates(
    suite: MetricSuite, clusters: Clusters, replicates: int, rng: np.random.Generator, level: float
) -> dict[str, dict[str, float | None]]:
    point = {k: float(v[0]) for k, v in suite.compute(np.ones((clusters.count, 1))).items()}
    reps: dict[str, list[np.ndarray]] = {k: [] for k in point}
    if replicates > 0 and clusters.count:
        for weights in replicate_weights(clusters, replicates, rng):
            for key, values in suite.compute(weights).items():
                reps[key].append(values)
    out: dict[str, dict[str, float | None]] = {}
    for key, value in point.items():
        low = high = float("nan")
        if reps[key]:
            low, high = percentile_interval(np.concatenate(reps[key]), level)
        out[key] = {"value": _num(value), "low": _num(low), "high": _num(high)}
    return out


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _curve(curve: BinaryCurve, n_clusters: int) -> dict[str, list[float]]:
    fpr, tpr = curve.sums(np.ones((n_clusters, 1))).rates()
    fpr, tpr = np.r_[0.0, fpr[:, 0]], np.r_[0.0, tpr[:, 0]]
    if not (np.isfinite(fpr[-1]) and np.isfinite(tpr[-1])):
        return {"fpr": [], "tpr": []}
    keep = _thin(fpr, tpr)
    return {"fpr": fpr[keep].round(5).tolist(), "tpr": tpr[keep].round(5).tolist()}


def _thin(fpr: np.ndarray, tpr: np.ndarray, max_points: int = 500) -> np.ndarray:
    """At most *max_points* of the ROC points (first and last kept), enough to draw it."""
    if len(fpr) <= max_points:
        return np.arange(len(fpr))
    return np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))


def evaluate(
    data: EvalData,
    *,
    replicates: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    subgroups: bool = True,
) -> dict[str, Any]:
    """All metrics with percentile intervals from a cluster bootstrap; a JSON-ready dict."""
    with threadpool_limits(1):  # see single_thread_blas
        return _evaluate(data, replicates, seed, level, subgroups)


def _evaluate(
    data: EvalData, replicates: int, seed: int, level: float, subgroups: bool
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    suite = MetricSuite(data)
    metrics = _estimates(suite, data.clusters, replicates, rng, level)
    n = len(data.images)
    k = len(suite.codes)
    counts = confusion(suite.confusion(np.ones((suite.n_clusters, 1))), k)[0]
    per_class = {
        code: {
            "name": data.names.get(code, code),
            "malignant": code in data.malignant,
            "images": int((data.labels == data.codes.index(code)).sum()),
            **{key.split("/", 1)[1]: v for key, v in metrics.items() if key.startswith(code + "/")},
        }
        for code in suite.codes
    }
    result: dict[str, Any] = {
        "source": {
            **data.source,
            "images": n,
            "clusters": data.clusters.count,
            "cluster_unit": data.clusters.unit,
            "images_in_multiclass_metrics": suite.mc_images,
            "bootstrap": {"replicates": replicates, "seed": seed, "level": level},
        },
        "categories": [
            {
                "code": c,
                "name": data.names.get(c, c),
                "malignant": c in data.malignant,
                "predicted": c in data.covered,
                "images": int((data.labels == i).sum()),
            }
            for i, c in enumerate(data.codes)
        ],
        "headline": {
            key: {"label": label, **metrics[key]} for key, label in HEADLINE if key in metrics
        },
        "overall": {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("overall/")},
        "malignant": {
            "images": int(suite.mal_truth.sum()),
            "codes": sorted(data.malignant),
            **{k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("malignant/")},
        },
        "per_class": per_class,
        "confusion": {
            "truth": suite.codes,
            "predicted": [*suite.codes, "undecided"],
            "counts": counts.astype(int).tolist(),
        },
        "calibration": {
            "bins": suite.top_label.diagram(),
            "malignant_bins": suite.mal_binned.diagram() if suite.has_malignant else [],
        },
        "roc": {
            **{
                code: _curve(curve, suite.n_clusters)
                for code, curve in zip(suite.codes, suite.curves, strict=True)
            },
            **(
                {"malignant": _curve(suite.mal_curve, suite.n_clusters)}
                if suite.has_malignant
                else {}
            ),
        },
        "subgroups": _subgroups(data, replicates, rng, level) if subgroups else {},
        "notes": list(data.notes),
    }
    return result


def _subgroups(
    data: EvalData, replicates: int, rng: np.random.Generator, level: float
) -> dict[str, Any]:
    if data.covariates is None:
        return {}
    out: dict[str, Any] = {}
    for title, column in SUBGROUP_FIELDS:
        labels = subgroup_labels(data.covariates, column)
        if labels is None:
            continue
        rows_for = labels.to_numpy()
        groups = []
        for value in ordered_values(labels, column):
            rows = np.flatnonzero(rows_for == value)
            sub = data.subset(rows)
            suite = MetricSuite(sub, full=False)
            metrics = _estimates(suite, sub.clusters, replicates, rng, level)
            groups.append(
                {
                    "value": value,
                    "images": len(rows),
                    "clusters": sub.clusters.count,
                    "malignant": int(suite.mal_truth.sum()),
                    "metrics": {m: metrics[m] for m in SUBGROUP_METRICS if m in metrics},
                }
            )
        out[column] = {"title": title, "groups": groups}
    return out
