"""Classification metrics computed for many weight vectors at once.

Every metric here takes a weight matrix ``W`` (images × replicates): a column of ones is the
point estimate, a column of cluster-bootstrap counts is one bootstrap replicate, zeros drop
images. Scores
are sorted once and each replicate costs a few vectorised sums, which is what makes a
patient-level bootstrap with 1,000+ replicates on 10,000 images take seconds rather than the
minutes a loop over ``sklearn.metrics`` would (measured: ``benchmarks/bench_evaluate.py``).
Definitions follow the ISIC challenge scorer (``isic-challenge-scoring``) where one exists, and
tests check that the numbers agree: balanced accuracy over argmax labels with ties counted as
"undecided", per-class binary metrics at probability > 0.5, AUC and average precision as in
scikit-learn. The ISIC 2024 partial AUC is the area between the ROC curve and the line TPR = 0.8
(at most 0.2). Where the ISIC scorer returns 1.0 for an undefined value (a sensitivity with no
positives) we return NaN: an undefined number must not look perfect.
"""

from __future__ import annotations

import numpy as np

UNDECIDED = -1


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(den > 0, out, np.nan)


class BinaryCurve:
    """One binary problem (truth, score), sorted once for weighted ROC-type metrics.

    >>> c = BinaryCurve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), np.arange(4))
    >>> float(c.sums(np.ones((4, 1))).auc()[0])
    0.75
    """

    def __init__(self, truth: np.ndarray, score: np.ndarray, clusters: np.ndarray):
        score = np.asarray(score, dtype=float)
        order = np.argsort(-score, kind="mergesort")
        sorted_scores = score[order]
        self.order = order
        self.sorted_clusters = np.asarray(clusters)[order]
        self.starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        self.positive = np.asarray(truth, dtype=float)[order][:, None]
        self.thresholds = sorted_scores[self.starts]

    def sums(self, counts: np.ndarray) -> CurveSums:
        """Weighted positives and negatives per distinct score, highest score first.

        *counts* is clusters × replicates; an image weighs its cluster's count.
        """
        ws = counts[self.sorted_clusters]
        pos = ws * self.positive.astype(ws.dtype)
        if len(self.starts) == len(self.order):
            return CurveSums(pos, ws - pos)
        # ties: one ROC point per distinct score; cumulate per image, read at each group's end
        # (a gather; np.add.reduceat along axis 0 is several times slower here)
        ends = np.r_[self.starts[1:], len(self.order)] - 1
        tp = np.cumsum(pos, axis=0)[ends]
        total = np.cumsum(ws, axis=0)[ends]
        return CurveSums(
            np.diff(tp, axis=0, prepend=0), np.diff(total - tp, axis=0, prepend=0), tp, total - tp
        )


class CurveSums:
    """Per-threshold weighted counts of one curve under several weightings (thresholds × B)."""

    def __init__(
        self,
        pos: np.ndarray,
        neg: np.ndarray,
        tp: np.ndarray | None = None,
        fp: np.ndarray | None = None,
    ):
        self.pos = pos
        self.neg = neg
        self.tp = np.cumsum(pos, axis=0) if tp is None else tp
        self.fp = np.cumsum(neg, axis=0) if fp is None else fp
        self.defined = (self.tp[-1] > 0) & (self.fp[-1] > 0)
        self._rates: tuple[np.ndarray, np.ndarray] | None = None

    def rates(self) -> tuple[np.ndarray, np.ndarray]:
        """(fpr, tpr) at every threshold (the (0, 0) corner is implied); thresholds × B."""
        if self._rates is None:
            self._rates = (_safe_div(self.fp, self.fp[-1:]), _safe_div(self.tp, self.tp[-1:]))
        return self._rates

    def auc(self) -> np.ndarray:
        total_neg = self.fp[-1]
        won = (self.pos * ((total_neg - self.fp) + 0.5 * self.neg)).sum(axis=0)
        return _safe_div(won, self.tp[-1] * total_neg)

    def average_precision(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            steps = self.pos * (self.tp / (self.tp + self.fp))
        return _safe_div(np.nansum(steps, axis=0), self.tp[-1])

    def partial_auc_above_tpr(self, min_tpr: float = 0.8) -> np.ndarray:
        """ISIC 2024: the integral of max(TPR − min_tpr, 0) over FPR (at most 1 − min_tpr)."""
        fpr, tpr = self.rates()
        zero = np.zeros((1, fpr.shape[1]), dtype=fpr.dtype)
        f0 = np.concatenate([zero, fpr[:-1]])
        t0 = np.concatenate([zero, tpr[:-1]])
        width = fpr - f0
        with np.errstate(invalid="ignore", divide="ignore"):
            both = width * ((t0 + tpr) / 2 - min_tpr)
            part = (tpr - min_tpr) ** 2 / (tpr - t0) / 2 * width
        area = np.where(t0 >= min_tpr, both, np.where(tpr > min_tpr, part, 0.0))
        return np.where(self.defined, np.nansum(area, axis=0), np.nan)

    def sensitivity_at_specificity(self, specificity: float) -> np.ndarray:
        """Highest sensitivity among thresholds whose specificity is at least *specificity*."""
        fpr, tpr = self.rates()
        best = np.where(fpr <= (1.0 - specificity) + 1e-12, tpr, 0.0).max(axis=0)
        return np.where(self.defined, best, np.nan)


def argmax_labels(probabilities: np.ndarray) -> np.ndarray:
    """Predicted class per row; rows whose maximum is shared are UNDECIDED (as ISIC scores)."""
    top = probabilities.max(axis=1, keepdims=True)
    ties = (probabilities == top).sum(axis=1) > 1
    return np.where(ties, UNDECIDED, probabilities.argmax(axis=1))


class Linear:
    """Weighted sums of per-image features, pre-aggregated per cluster.

    Any sum over images of ``weight × feature`` is ``A.T @ counts`` with ``A`` the features
    summed within each cluster, so a replicate costs clusters × features, not images.
    """

    def __init__(self, features: np.ndarray, clusters: np.ndarray, n_clusters: int):
        agg = np.zeros((n_clusters, features.shape[1]))
        np.add.at(agg, clusters, features)
        self._t = np.ascontiguousarray(agg.T)
        self._t32 = self._t.astype(np.float32)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """features × replicates."""
        return (self._t32 if counts.dtype == np.float32 else self._t) @ counts


def confusion_features(truth: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """One-hot (truth, predicted) cell per image; predicted UNDECIDED goes to column k."""
    column = np.where(predicted == UNDECIDED, k, predicted)
    out = np.zeros((len(truth), k * (k + 1)))
    out[np.arange(len(truth)), truth * (k + 1) + column] = 1.0
    return out


def confusion(sums: np.ndarray, k: int) -> np.ndarray:
    """Confusion counts from summed cells: replicates × k × (k + 1) (last column: undecided)."""
    return sums.T.reshape(sums.shape[1], k, k + 1)


def balanced_accuracy(counts: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present (ISIC's balanced multiclass accuracy)."""
    k = counts.shape[1]
    recall = _safe_div(counts[:, np.arange(k), np.arange(k)], counts.sum(axis=2))
    present = np.isfinite(recall)
    return _safe_div(np.where(present, recall, 0.0).sum(axis=1), present.sum(axis=1))


def binary_features(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """TP, FN, FP, TN indicators for several binary problems (images × problems each)."""
    t = truth.astype(float)
    p = predicted.astype(float)
    return np.concatenate([t * p, t * (1 - p), (1 - t) * p, (1 - t) * (1 - p)], axis=1)


def binary_rates(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Sensitivity, specificity, PPV, NPV from summed binary features: each problems × B."""
    tp, fn, fp, tn = np.split(sums, 4, axis=0)
    return {
        "sensitivity": _safe_div(tp, tp + fn),
        "specificity": _safe_div(tn, tn + fp),
        "ppv": _safe_div(tp, tp + fp),
        "npv": _safe_div(tn, tn + fn),
    }
