"""Inter-rater agreement statistics (pure: arrays in, numbers out).

* Fleiss' kappa (Fleiss 1971) via statsmodels, for items rated by the same number of raters;
* per-category kappa (Fleiss 1971, eq. 20-21) and the proportion of specific agreement, which no
  library we use provides, so they are computed here from the same count table;
* Krippendorff's alpha (nominal) via the ``krippendorff`` package, which allows missing ratings;
* Cohen's kappa between two raters via scikit-learn (and a counting version for resamples);
* percentile bootstrap confidence intervals, resampling items (images) with replacement.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as _sm_fleiss_kappa


def count_table(ratings: Sequence[Sequence[str]], categories: Sequence[str]) -> np.ndarray:
    """items x categories: how many raters put each item in each category."""
    index = {c: j for j, c in enumerate(categories)}
    table = np.zeros((len(ratings), len(categories)), dtype=np.int64)
    for i, row in enumerate(ratings):
        for label in row:
            table[i, index[label]] += 1
    return table


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa of an items x categories count table (equal raters per item)."""
    table = np.asarray(table)
    if table.shape[0] == 0:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_sm_fleiss_kappa(table, method="fleiss"))


def category_kappas(table: np.ndarray) -> np.ndarray:
    """Fleiss' kappa of each category against all others (nan where a category is unused)."""
    table = np.asarray(table, dtype=float)
    n_items = table.shape[0]
    m = table.sum(axis=1)[0] if n_items else 0
    if n_items == 0 or m < 2:
        return np.full(table.shape[1], np.nan)
    p = table.sum(axis=0) / (n_items * m)
    disagreement = (table * (m - table)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - disagreement / (n_items * m * (m - 1) * p * (1 - p))


def specific_agreement(table: np.ndarray) -> np.ndarray:
    """Per category: of the rater pairs in which one chose it, the share in which both did."""
    table = np.asarray(table, dtype=float)
    m = table.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (table * (table - 1)).sum(axis=0) / (table * (m[:, None] - 1)).sum(axis=0)


def krippendorff_alpha(matrix: np.ndarray) -> float:
    """Nominal Krippendorff's alpha of a raters x items matrix of category indices (nan: none)."""
    matrix = np.asarray(matrix, dtype=float)
    values = np.unique(matrix[~np.isnan(matrix)])
    if matrix.size == 0 or len(values) < 2:
        return math.nan
    return float(
        krippendorff.alpha(
            reliability_data=matrix, level_of_measurement="nominal", value_domain=values
        )
    )


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two raters on the same items (nan when it is undefined)."""
    if len(a) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a single shared label: undefined, returned as nan
        value = cohen_kappa_score(list(a), list(b))
    return float(value)


def cohen_kappa_codes(a: np.ndarray, b: np.ndarray, n_categories: int) -> float:
    """Cohen's kappa of two integer-coded raters, for bootstrap resamples.

    Same value as :func:`cohen_kappa` (the tests check it), written out here because
    scikit-learn's took 3.5 ms per call on 300 items (measured), i.e. ~30 s for the 9,000
    resamples of one agreement report; this one takes a few microseconds.
    """
    n = len(a)
    if n == 0:
        return math.nan
    table = np.bincount(a * n_categories + b, minlength=n_categories * n_categories).reshape(
        n_categories, n_categories
    )
    observed = np.trace(table) / n
    expected = float(table.sum(axis=1) @ table.sum(axis=0)) / (n * n)
    if expected >= 1.0:
        return math.nan
    return float((observed - expected) / (1 - expected))


def accuracy(a: Sequence[str], b: Sequence[str]) -> float:
    return float(np.mean(np.asarray(a) == np.asarray(b))) if len(a) else math.nan


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n_items: int,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of *statistic(indices)* over resamples of the items.

    Resamples where the statistic is undefined (nan) are left out; (nan, nan) when there are
    fewer than two items or no defined resample.
    """
    if n_items < 2 or n_resamples <= 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = np.array(
        [statistic(rng.integers(0, n_items, n_items)) for _ in range(n_resamples)], dtype=float
    )
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return (float(lo), float(hi))
