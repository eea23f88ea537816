"""Patient-level (cluster) bootstrap: confidence intervals that respect repeated images.

Images of one patient are not independent: a model that misreads one of a patient's naevi tends
to misread the others. Resampling images would make intervals too narrow, so we resample
patients with replacement and give each image the number of times its patient was drawn as its
weight (Field & Welsh 2007; the usual choice for multi-image-per-patient medical test sets).
Where a release lacks patient ids we fall back to lesions, then to images, and say so.
Intervals are percentile intervals of the replicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

CHUNK_CELLS = 2_000_000  # replicates × images per chunk: keeps the weight matrix near 8 MB


@dataclass(frozen=True)
class Clusters:
    """Cluster index of every image and what a cluster is (patient, lesion or image)."""

    index: np.ndarray  # int, per image, 0..n_clusters-1
    unit: str

    @property
    def count(self) -> int:
        return int(self.index.max()) + 1 if len(self.index) else 0


def clusters_from(
    images: list[str],
    patient: pd.Series | None = None,
    lesion: pd.Series | None = None,
) -> Clusters:
    """Cluster by patient where known, else lesion, else the image itself.

    Images whose patient is missing become their own cluster (or their lesion's), so a partly
    missing patient column still clusters what it can.
    """
    keys: list[str] = []
    units: set[str] = set()
    for i, image in enumerate(images):
        p = None if patient is None else patient.iloc[i]
        q = None if lesion is None else lesion.iloc[i]
        if isinstance(p, str) and p:
            keys.append("p:" + p)
            units.add("patient")
        elif isinstance(q, str) and q:
            keys.append("l:" + q)
            units.add("lesion")
        else:
            keys.append("i:" + image)
            units.add("image")
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))
    unit = next((u for u in ("patient", "lesion", "image") if u in units), "image")
    if len(units) > 1:
        unit += " (where known)"
    return Clusters(np.asarray(codes, dtype=int), unit)


def replicate_weights(
    clusters: Clusters, replicates: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield chunks of bootstrap draw counts, clusters × replicates."""
    n_clusters = clusters.count
    n_images = len(clusters.index)
    chunk = max(1, min(replicates, CHUNK_CELLS // max(1, n_images, n_clusters)))
    done = 0
    while done < replicates:
        b = min(chunk, replicates - done)
        draws = rng.integers(0, n_clusters, size=(b, n_clusters))
        flat = (draws * b + np.arange(b)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n_clusters).reshape(n_clusters, b)
        # float32 holds these integer counts exactly and halves the memory traffic
        yield counts.astype(np.float32)
        done += b


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) < max(10, 0.5 * len(values)):
        return (float("nan"), float("nan"))
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)
