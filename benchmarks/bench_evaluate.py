"""Evaluation with a patient-level bootstrap: dermset against two peers measured in the same run.

Data: ISIC 2018 task-3 ground truth (HAM10000, 10,015 images, 7,470 lesion clusters) with a
seeded noisy 7-class model, the same files the equality test uses. We time:

* dermset: ``evaluate`` with N cluster-bootstrap replicates (every metric of the report, no
  subgroups), and the point estimate alone;
* isic-challenge-scoring 5.6.0 (the ISIC Archive's scorer), once per replicate with the
  bootstrap counts as ``score_weight`` — what a user would do to get intervals from it;
* a plain scikit-learn loop per replicate (roc_auc_score, average_precision_score and a weighted
  confusion matrix per class, with the counts as sample weights).

Peers are timed on a few replicates and reported per replicate; the ratio is per replicate.
Run: ``python benchmarks/bench_evaluate.py [--replicates 1000] [--peer-replicates 3]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _common import SHARED, save, timer
from dermset.analysis.bootstrap import replicate_weights
from dermset.analysis.evaluation import evaluate
from dermset.analysis.evaluation_inputs import from_truth

HAM = SHARED / "tables" / "ham10000" / "HAM10000_metadata.csv"
COLUMNS = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]


def write_files(folder: Path) -> tuple[Path, Path]:
    ham = pd.read_csv(HAM)
    labels = ham["dx"].str.upper().map({c: i for i, c in enumerate(COLUMNS)}).to_numpy()
    truth = pd.DataFrame({"image": ham["image_id"]})
    for i, c in enumerate(COLUMNS):
        truth[c] = (labels == i).astype(float)
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 1, (len(ham), len(COLUMNS)))
    logits[np.arange(len(ham)), labels] += rng.uniform(0.5, 2.5, len(ham))
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    pred = pd.DataFrame(probs, columns=COLUMNS)
    pred.insert(0, "image", ham["image_id"])
    truth.to_csv(folder / "truth.csv", index=False)
    pred.to_csv(folder / "pred.csv", index=False, float_format="%.6f")
    return folder / "truth.csv", folder / "pred.csv"


def sklearn_replicate(y: np.ndarray, probs: np.ndarray, w: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

    k = probs.shape[1]
    for j in range(k):
        roc_auc_score(y == j, probs[:, j], sample_weight=w)
        average_precision_score(y == j, probs[:, j], sample_weight=w)
    cm = confusion_matrix(y, probs.argmax(axis=1), labels=range(k), sample_weight=w)
    return float(np.mean(np.diag(cm) / cm.sum(axis=1)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--peer-replicates", type=int, default=3)
    args = ap.parse_args()
    if not HAM.is_file():
        print(f"HAM10000 table not found at {HAM}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        truth, pred = write_files(Path(tmp))
        data = from_truth(truth, pred, metadata=HAM)
        with timer() as point:
            evaluate(data, replicates=0, subgroups=False)
        with timer() as boot:
            evaluate(data, replicates=args.replicates, subgroups=False)
        per_ours = (boot["seconds"] - point["seconds"]) / args.replicates

        rng = np.random.default_rng(0)
        counts = next(replicate_weights(data.clusters, args.peer_replicates, rng))
        weights = counts[data.clusters.index].astype(float)  # images × replicates

        from isic_challenge_scoring.classification import (
            ClassificationMetric,
            ClassificationScore,
        )

        t = pd.read_csv(truth).set_index("image")
        p = pd.read_csv(pred).set_index("image").reindex(t.index)
        with timer() as isic, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in range(args.peer_replicates):
                wt = pd.DataFrame(
                    {"score_weight": weights[:, r], "validation_weight": weights[:, r]},
                    index=t.index,
                )
                ClassificationScore(t, p, wt, ClassificationMetric.BALANCED_ACCURACY)
        per_isic = isic["seconds"] / args.peer_replicates

        y = data.labels
        with timer() as skl:
            for r in range(args.peer_replicates):
                sklearn_replicate(y, data.probabilities, weights[:, r])
        per_sklearn = skl["seconds"] / args.peer_replicates

    result = {
        "images": len(data.images),
        "clusters": data.clusters.count,
        "replicates": args.replicates,
        "dermset_point_s": round(point["seconds"], 3),
        "dermset_bootstrap_total_s": round(boot["seconds"], 2),
        "dermset_per_replicate_ms": round(1000 * per_ours, 2),
        "isic_challenge_scoring_per_replicate_ms": round(1000 * per_isic, 1),
        "sklearn_loop_per_replicate_ms": round(1000 * per_sklearn, 1),
        "speedup_vs_isic_scorer": round(per_isic / per_ours, 1),
        "speedup_vs_sklearn_loop": round(per_sklearn / per_ours, 1),
        "note": "dermset computes more metrics per replicate than either peer (pAUC, "
        "sensitivity at 3 specificities, PPV/NPV, two ECEs); most of the ISIC scorer's time "
        "goes to simplifying every ROC curve (rdp), which it always does",
    }
    save("evaluate", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
