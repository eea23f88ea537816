"""Evaluation numbers equal the ISIC Archive's own scorer where the metric is the same, and the
patient-level bootstrap covers the true value at its nominal rate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from conftest import TABLES, skip_or_fail
from dermset.analysis.bootstrap import Clusters, percentile_interval, replicate_weights
from dermset.analysis.evaluation import evaluate
from dermset.analysis.evaluation_inputs import from_truth
from dermset.analysis.metrics import BinaryCurve, Linear, binary_features, binary_rates

HAM = TABLES / "ham10000" / "HAM10000_metadata.csv"
ISIC2018 = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]


def _isic_scorer():
    try:
        from isic_challenge_scoring.classification import (
            ClassificationMetric,
            ClassificationScore,
        )
    except ImportError as exc:
        skip_or_fail(f"isic-challenge-scoring is not installed ({exc}); it is in the test extra")
    return ClassificationScore, ClassificationMetric


def write_ham_task3(tmp_path: Path, seed: int = 7) -> tuple[Path, Path]:
    """ISIC 2018 task-3 ground truth (HAM10000, one-hot) and a seeded noisy model's output.

    The model confuses NV with MEL and BKL, and its output is rounded to multiples of 1/1024,
    so ties occur as they do in real submission files (binary fractions keep sums and
    complements exact, so a tie is a tie for every scorer).
    """
    ham = pd.read_csv(HAM)
    if len(ham) != 10015:
        skip_or_fail("HAM10000_metadata.csv is not the 10,015-row file the test expects")
    labels = ham["dx"].str.upper().map({c: i for i, c in enumerate(ISIC2018)}).to_numpy()
    truth = pd.DataFrame({"image": ham["image_id"]})
    for i, c in enumerate(ISIC2018):
        truth[c] = (labels == i).astype(float)
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.0, (len(ham), len(ISIC2018)))
    logits[np.arange(len(ham)), labels] += rng.uniform(0.5, 2.5, len(ham))
    nv = labels == ISIC2018.index("NV")
    logits[nv, ISIC2018.index("MEL")] += 0.8
    logits[nv, ISIC2018.index("BKL")] += 0.5
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    probs = np.round(probs * 1024) / 1024
    probs[:, 0] = np.clip(1 - probs[:, 1:].sum(axis=1), 0, 1)  # rows still sum to 1
    pred = pd.DataFrame(probs, columns=ISIC2018)
    pred.insert(0, "image", ham["image_id"] + ".jpg")  # the scorer strips .jpg, so do we
    truth_path, pred_path = tmp_path / "truth.csv", tmp_path / "pred.csv"
    truth.to_csv(truth_path, index=False)
    pred.to_csv(pred_path, index=False)
    return truth_path, pred_path


def test_metrics_equal_isic_challenge_scoring_on_ham10000(shared_data, tmp_path: Path) -> None:
    score_cls, metric = _isic_scorer()
    truth, pred = write_ham_task3(tmp_path)
    isic = score_cls.from_file(truth, pred, metric.BALANCED_ACCURACY)
    ours = evaluate(from_truth(truth, pred), replicates=0, subgroups=False)

    assert ours["overall"]["balanced_accuracy"]["value"] == pytest.approx(
        isic.aggregate["balanced_accuracy"], abs=1e-12
    )
    for code in ISIC2018:
        for name in ("sensitivity", "specificity", "ppv", "npv", "auc", "ap"):
            assert ours["per_class"][code][name]["value"] == pytest.approx(
                isic.per_category.loc[code, name], abs=1e-10
            ), (code, name)
    # the HAM labels are what the test built: 6,705 nevi of 10,015 images
    assert ours["per_class"]["NV"]["images"] == 6705
    assert ours["source"]["images"] == 10015


def test_partial_auc_equals_the_isic_2024_definition(shared_data, tmp_path: Path) -> None:
    """ISIC 2024's scorer flips the labels and un-normalises sklearn's McClish-corrected pAUC;
    ours integrates TPR − 0.8 over FPR directly. Both must give the same number."""
    truth, pred = write_ham_task3(tmp_path, seed=11)
    data = from_truth(truth, pred)
    result = evaluate(data, replicates=0, subgroups=False)
    malignant = [data.codes.index(c) for c in ("MEL", "BCC")]
    y = np.isin(data.labels, malignant).astype(int)
    score = data.probabilities[:, malignant].sum(axis=1)
    max_fpr = 0.2
    scaled = roc_auc_score(1 - y, 1.0 - score, max_fpr=max_fpr)
    expected = 0.5 * max_fpr**2 + (max_fpr - 0.5 * max_fpr**2) / 0.5 * (scaled - 0.5)
    assert result["malignant"]["pauc80"]["value"] == pytest.approx(expected, abs=1e-12)
    assert result["malignant"]["auc"]["value"] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert 0 < result["malignant"]["pauc80"]["value"] < 0.2


def test_truth_with_metadata_clusters_by_lesion_and_reports_subgroups(
    shared_data, tmp_path: Path
) -> None:
    truth, pred = write_ham_task3(tmp_path)
    data = from_truth(truth, pred, metadata=HAM)
    assert data.clusters.unit == "lesion"
    assert data.clusters.count == pd.read_csv(HAM)["lesion_id"].nunique() == 7470
    result = evaluate(data, replicates=50, subgroups=True)
    sexes = {g["value"]: g["images"] for g in result["subgroups"]["sex"]["groups"]}
    ham = pd.read_csv(HAM)
    assert sexes == {
        "female": int((ham["sex"] == "female").sum()),
        "male": int((ham["sex"] == "male").sum()),
        "missing": int((ham["sex"] == "unknown").sum()),
    }


def _simulate(rng: np.random.Generator, patients: int, d: float, threshold: float):
    """1-4 images of one lesion per patient: one label, scores sharing a patient effect."""
    per_patient = rng.integers(1, 5, patients)
    cluster = np.repeat(np.arange(patients), per_patient)
    y = (rng.random(patients) < 0.3)[cluster]
    score = d * y + rng.normal(0, 1, patients)[cluster] + rng.normal(0, 1, len(cluster))
    return cluster, y, score, score > threshold


def test_cluster_bootstrap_covers_the_true_value_at_the_nominal_rate() -> None:
    """400 simulated studies of 150 patients with 1-4 images each. With patient effects, the
    AUC over independent pairs is Φ(d / 2) and the sensitivity at threshold t is
    Φ((d − t) / √2); the 95 % cluster-bootstrap intervals must cover them 92-98 % of the time,
    while resampling images alone (ignoring patients) covers the sensitivity visibly less
    often."""
    d, t = 1.0, 1.0
    true_auc = norm.cdf(d / 2)
    true_sens = norm.cdf((d - t) / math.sqrt(2))
    rng = np.random.default_rng(20260)
    studies, replicates = 400, 400
    covered = {"auc": 0, "sens": 0, "auc_naive": 0, "sens_naive": 0}
    for _ in range(studies):
        cluster, y, score, called = _simulate(rng, 150, d, t)
        for key, clusters in (
            ("", Clusters(cluster, "patient")),
            ("_naive", Clusters(np.arange(len(cluster)), "image")),
        ):
            curve = BinaryCurve(y, score, clusters.index)
            sens = Linear(
                binary_features(y[:, None], called[:, None]), clusters.index, clusters.count
            )
            aucs, senss = [], []
            for counts in replicate_weights(clusters, replicates, rng):
                aucs.append(curve.sums(counts).auc())
                senss.append(binary_rates(sens(counts))["sensitivity"][0])
            low, high = percentile_interval(np.concatenate(aucs))
            covered["auc" + key] += low <= true_auc <= high
            low, high = percentile_interval(np.concatenate(senss))
            covered["sens" + key] += low <= true_sens <= high
    rate = {k: v / studies for k, v in covered.items()}
    assert abs(rate["auc"] - 0.95) <= 0.03, rate
    assert abs(rate["sens"] - 0.95) <= 0.03, rate
    # a patient's images are scored and called together: resampling images overstates precision
    assert rate["auc_naive"] < rate["auc"] - 0.05, rate
    assert rate["sens_naive"] < rate["sens"] - 0.05, rate
