"""Effect sizes and tests for comparing two samples of one field.

Sizes that do not depend on the sample sizes come first (standardised mean difference,
Wasserstein distance, total variation distance, Cramér's V as if both sides were the same size);
the tests (Kolmogorov-Smirnov, chi-square) and Holm's adjustment come second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def holm(pvalues: list[float | None]) -> list[float | None]:
    idx = [i for i, p in enumerate(pvalues) if p is not None and np.isfinite(p)]
    order = sorted(idx, key=lambda i: pvalues[i])  # type: ignore[arg-type, return-value]
    out: list[float | None] = list(pvalues)
    running = 0.0
    m = len(order)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def chi2_test(table: np.ndarray) -> tuple[float | None, float | None]:
    """(p-value, Cramér's V) of a 2 × k count table, columns without counts dropped.

    V is computed as if both sides had the same size (from the two rows' shares): the usual V
    shrinks towards 0 when one dataset is much larger than the other, which would make a
    comparison of 300 patients against HAM10000's 7,470 lesions look like no shift at all.
    """
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return None, None
    _, p, _, _ = stats.chi2_contingency(table, correction=False)
    shares = table / table.sum(axis=1, keepdims=True)
    chi2_per_case = stats.chi2_contingency(shares, correction=False)[0] / shares.sum()
    return float(p), float(np.sqrt(chi2_per_case / (min(shares.shape) - 1)))


def numeric_shift(xa: pd.Series, xb: pd.Series) -> dict[str, Any]:
    va, vb = xa.dropna().to_numpy(float), xb.dropna().to_numpy(float)
    out: dict[str, Any] = {
        "a_mean": float(va.mean()) if len(va) else None,
        "b_mean": float(vb.mean()) if len(vb) else None,
        "a_median": float(np.median(va)) if len(va) else None,
        "b_median": float(np.median(vb)) if len(vb) else None,
        "smd": None,
        "wasserstein": None,
        "ks": None,
        "p_value": None,
    }
    if len(va) and len(vb):
        out["histogram"] = histogram(va, vb)
    if len(va) > 1 and len(vb) > 1:
        pooled = np.sqrt((va.var(ddof=1) + vb.var(ddof=1)) / 2)
        scale = max(1.0, abs(float(va.mean())), abs(float(vb.mean())))
        if pooled > 1e-9 * scale:
            out["smd"] = float((va.mean() - vb.mean()) / pooled)
        else:  # no variation on either side: a difference has no size in SD units
            out["smd"] = 0.0 if np.isclose(va.mean(), vb.mean()) else None
        out["wasserstein"] = float(stats.wasserstein_distance(va, vb))
        ks = stats.ks_2samp(va, vb)
        out["ks"], out["p_value"] = float(ks.statistic), float(ks.pvalue)
    return out


def histogram(va: np.ndarray, vb: np.ndarray) -> dict[str, list[float]]:
    """Shared bins for both sides (5-year bins for ages in ISIC's 5-year rounding)."""
    both = np.concatenate([va, vb])
    if np.all(np.mod(both, 5) == 0):
        edges = np.arange(both.min() - 2.5, both.max() + 5, 5)
    else:
        edges = np.histogram_bin_edges(both, bins=min(30, max(5, int(np.sqrt(len(both))))))
    return {
        "edges": edges.round(6).tolist(),
        "a": np.histogram(va, edges)[0].tolist(),
        "b": np.histogram(vb, edges)[0].tolist(),
    }


def categorical_shift(xa: pd.Series, xb: pd.Series) -> dict[str, Any]:
    ka, kb = xa.dropna().astype(str), xb.dropna().astype(str)
    values = sorted(set(ka) | set(kb))
    ca = ka.value_counts().reindex(values, fill_value=0)
    cb = kb.value_counts().reindex(values, fill_value=0)
    p, v = chi2_test(np.vstack([ca.to_numpy(), cb.to_numpy()]))
    sa = ca / ca.sum() if ca.sum() else ca * 0.0
    sb = cb / cb.sum() if cb.sum() else cb * 0.0
    both = ca.sum() > 0 and cb.sum() > 0
    return {
        "values": [
            {
                "value": val,
                "a_count": int(ca[val]),
                "b_count": int(cb[val]),
                "a_share": float(sa[val]) if ca.sum() else None,
                "b_share": float(sb[val]) if cb.sum() else None,
            }
            for val in values
        ],
        "total_variation": float(0.5 * np.abs(sa - sb).sum()) if both else None,
        "cramers_v": v,
        "p_value": p,
    }
