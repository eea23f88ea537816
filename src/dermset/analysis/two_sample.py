"""Two-sample tests for multivariate shift: a classifier two-sample test and an MMD test.

* Classifier two-sample test (Lopez-Paz & Oquab 2017): if a classifier can tell the two samples
  apart out of fold, they differ. The statistic is the out-of-fold ROC AUC (0.5: no detectable
  difference); folds keep each patient on one side of the split, and the p-value comes from
  permuting which patients belong to which sample, the exchangeable unit under the null.
* Maximum mean discrepancy (Gretton et al. 2012) with a Gaussian kernel whose bandwidth is the
  median pairwise distance, unbiased MMD², p-value by permutation. Used for user-supplied
  embeddings (e.g. a model's penultimate layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from threadpoolctl import threadpool_limits

MAX_PER_SIDE = 1500  # both tests subsample larger samples; the permutation cost is quadratic


@dataclass
class TestResult:
    statistic: float
    p_value: float
    permutations: int
    n_a: int
    n_b: int
    null: np.ndarray  # the permutation distribution, for the report's plot

    def to_dict(self) -> dict[str, float | int]:
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "permutations": self.permutations,
            "n_a": self.n_a,
            "n_b": self.n_b,
        }


def _subsample(
    x: np.ndarray, groups: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_PER_SIDE:
        return x, groups
    keep = np.sort(rng.choice(len(x), MAX_PER_SIDE, replace=False))
    return x[keep], groups[keep]


def _p_value(observed: float, null: np.ndarray) -> float:
    """Permutation p-value with the +1 correction (never exactly 0)."""
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


def _oof_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int) -> float:
    oof = np.zeros(len(y))
    model = make_pipeline(
        StandardScaler(),
        PolynomialFeatures(degree=2, include_bias=False),  # differences in spread, not only mean
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=500),
    )
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(np.unique(y[train])) < 2:
            oof[test] = 0.5
            continue
        model.fit(x[train], y[train])
        oof[test] = model.predict_proba(x[test])[:, 1]
    return float(roc_auc_score(y, oof))


def classifier_two_sample_test(
    a: np.ndarray,
    b: np.ndarray,
    groups_a: np.ndarray | None = None,
    groups_b: np.ndarray | None = None,
    *,
    permutations: int = 100,
    folds: int = 5,
    seed: int = 0,
) -> TestResult:
    """Out-of-fold AUC of telling *a* from *b* (rows: images, columns: features)."""
    rng = np.random.default_rng(seed)
    ga = np.asarray(groups_a if groups_a is not None else np.arange(len(a)), dtype=object)
    gb = np.asarray(groups_b if groups_b is not None else np.arange(len(b)), dtype=object)
    a, ga = _subsample(np.asarray(a, float), ga, rng)
    b, gb = _subsample(np.asarray(b, float), gb, rng)
    x = np.vstack([a, b])
    x = np.where(np.isfinite(x), x, np.nanmedian(x, axis=0))
    groups = np.concatenate([np.char.add("a:", ga.astype(str)), np.char.add("b:", gb.astype(str))])
    group_codes, group_index = np.unique(groups, return_inverse=True)
    side_of_group = np.array([g.startswith("b:") for g in group_codes])
    y = side_of_group[group_index].astype(int)
    folds = max(2, min(folds, len(group_codes) // 2))
    with threadpool_limits(1):
        observed = _oof_auc(x, y, group_index, folds)
        null = np.empty(permutations)
        for i in range(permutations):
            y_perm = rng.permutation(side_of_group)[group_index].astype(int)
            null[i] = _oof_auc(x, y_perm, group_index, folds)
    return TestResult(observed, _p_value(observed, null), permutations, len(a), len(b), null)


def _mmd2(k: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unbiased MMD² for each column of *labels* (n × P booleans, True = sample b)."""
    a = (~labels).astype(float)
    b = labels.astype(float)
    na, nb = a.sum(axis=0), b.sum(axis=0)
    ka, kb = k @ a, k @ b
    diag = np.diag(k)[:, None]
    saa = (a * ka).sum(axis=0) - (a * diag).sum(axis=0)
    sbb = (b * kb).sum(axis=0) - (b * diag).sum(axis=0)
    sab = (a * kb).sum(axis=0)
    return saa / (na * (na - 1)) + sbb / (nb * (nb - 1)) - 2 * sab / (na * nb)


def mmd_permutation_test(
    a: np.ndarray, b: np.ndarray, *, permutations: int = 500, seed: int = 0
) -> TestResult:
    """Gaussian-kernel MMD² between the rows of *a* and *b*, with a permutation p-value."""
    rng = np.random.default_rng(seed)
    a, _ = _subsample(np.asarray(a, float), np.arange(len(a)), rng)
    b, _ = _subsample(np.asarray(b, float), np.arange(len(b)), rng)
    x = np.vstack([a, b])
    with threadpool_limits(1):
        d2 = cdist(x, x, "sqeuclidean")
        off = d2[np.triu_indices(len(x), 1)]
        bandwidth = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
        k = np.exp(-d2 / bandwidth)
        labels = np.zeros(len(x), bool)
        labels[len(a) :] = True
        observed = float(_mmd2(k, labels[:, None])[0])
        null_parts = []
        for start in range(0, permutations, 100):
            count = min(100, permutations - start)
            perms = np.stack([rng.permutation(labels) for _ in range(count)], axis=1)
            null_parts.append(_mmd2(k, perms))
    null = np.concatenate(null_parts) if null_parts else np.zeros(0)
    return TestResult(observed, _p_value(observed, null), permutations, len(a), len(b), null)
