"""Calibration: expected calibration error and the reliability diagram's bins.

ECE as Guo et al. (2017) define it: confidences binned into equal-width bins, the weighted
mean gap between a bin's accuracy and its mean confidence. Computed with weights so the same
code gives the point estimate and every bootstrap replicate.
"""

from __future__ import annotations

import numpy as np

from dermset.analysis.metrics import Linear

N_BINS = 15


class Binned:
    """Images assigned to equal-width confidence bins, summed per cluster."""

    def __init__(
        self,
        confidence: np.ndarray,
        outcome: np.ndarray,
        clusters: np.ndarray,
        n_clusters: int,
        bins: int = N_BINS,
    ):
        confidence = np.asarray(confidence, float)
        index = np.minimum((confidence * bins).astype(int), bins - 1)
        member = np.zeros((len(index), bins))
        member[np.arange(len(index)), index] = 1.0
        features = np.hstack(
            [member, member * confidence[:, None], member * np.asarray(outcome, float)[:, None]]
        )
        self.bins = bins
        self.linear = Linear(features, clusters, n_clusters)
        self.n_clusters = n_clusters

    def sums(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bin (bins × replicates): weight, weighted confidence, weighted outcome."""
        out = self.linear(counts)
        b = self.bins
        return out[:b], out[b : 2 * b], out[2 * b :]

    def ece(self, counts: np.ndarray) -> np.ndarray:
        count, conf, hits = self.sums(counts)
        total = count.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, np.abs(hits - conf).sum(axis=0) / total, np.nan)

    def diagram(self) -> list[dict[str, float | None]]:
        """Per bin: edges, images, mean confidence, observed frequency (None when empty)."""
        count, conf, hits = self.sums(np.ones((self.n_clusters, 1)))
        out = []
        for b in range(self.bins):
            n = float(count[b, 0])
            out.append(
                {
                    "low": b / self.bins,
                    "high": (b + 1) / self.bins,
                    "images": n,
                    "confidence": float(conf[b, 0] / n) if n else None,
                    "observed": float(hits[b, 0] / n) if n else None,
                }
            )
        return out
